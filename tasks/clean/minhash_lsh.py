"""Keep-first near-duplicate search over shingle sets: MinHash LSH proposes, exact Jaccard decides.

Comparing every pair of 500k texts is 10^11 comparisons; MinHash LSH (Broder 1997; Leskovec,
Rajaraman & Ullman, *Mining of Massive Datasets* ch. 3) makes it about linear. Each set gets a
signature of ``bands × rows`` MinHash values; two sets become *candidates* when all the values
of at least one band agree, which happens with probability ``1 - (1 - J^rows)^bands`` for
Jaccard similarity J. Candidates are then checked against the exact Jaccard of their shingle
sets, so the threshold means exactly what it says and the only error left is a pair LSH never
proposes (bounded by :func:`lsh_params`).

The greedy pass visits rows in order: a row whose exact Jaccard with an already *kept* row
reaches the threshold is a duplicate of the most similar such row (the earliest on ties);
otherwise it is kept and indexed. So the first row of every cluster survives, every
``duplicate_of`` names a kept row, and the result depends only on the input order.

Two maintained libraries provide the index; :mod:`tests.bench.bench_dedup` compares them on the
same shingles. ``rensa`` (Rust) is the default: see :data:`DEFAULT_LIBRARY`.

>>> lsh_params(0.8, 128)          # 18 bands of 7 rows: P(candidate | J = 0.8) = 0.986
(18, 7)
>>> sets = [np.array([1, 2, 3, 4, 5], np.uint64), np.array([1, 2, 3, 4, 6], np.uint64), np.array([7, 8], np.uint64)]
>>> greedy_duplicates([sets], threshold=0.6).tolist()   # row 1 shares 4 of 6 shingles with row 0
[-1, 0, -1]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np

Library = Literal["rensa", "datasketch"]
# Chosen by tests/bench/bench_dedup.py on 500k rows, same shingles: the whole find_near_duplicates
# takes 96 s with rensa, 451 s with datasketch (2 cores), with the same recall (0.996) and the same
# rows dropped but for 4 of 39,687.
DEFAULT_LIBRARY: Library = "rensa"
DEFAULT_NUM_PERM = 128
SEED = 42  # fixed: the same input gives the same candidates in every run


def lsh_params(threshold: float, num_perm: int = DEFAULT_NUM_PERM, min_recall: float = 0.95) -> tuple[int, int]:
    """``(bands, rows)`` with ``bands * rows <= num_perm``: the longest bands (fewest false
    candidates) that still propose a pair at exactly the threshold with ``min_recall``."""
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    for rows in range(num_perm // 2, 0, -1):
        bands = num_perm // rows
        if 1 - (1 - threshold**rows) ** bands >= min_recall:
            return bands, rows
    return num_perm, 1


class LshIndex(Protocol):
    """What the greedy pass needs from a library: sketches, candidate lookup, insertion."""

    def sketch(self, sets: Sequence[np.ndarray]) -> list: ...

    def query(self, sketch) -> list[int]: ...

    def insert(self, key: int, sketch) -> None: ...


class RensaIndex:
    """rensa's R-MinHash (Rust) and its banded LSH; tokens are the 8 bytes of each shingle hash."""

    def __init__(self, bands: int, rows: int, seed: int = SEED):
        import rensa

        self._minhash, self.num_perm, self.seed = rensa.RMinHash, bands * rows, seed
        self._lsh = rensa.RMinHashLSH(0.5, bands * rows, bands)  # its threshold is unused here

    def sketch(self, sets: Sequence[np.ndarray]) -> list:
        # rensa takes str/bytes tokens; one tolist() of 8-byte views is far cheaper than per-row calls.
        flat = np.concatenate(sets).view("V8").tolist() if len(sets) else []
        ends = np.cumsum([len(s) for s in sets])
        token_sets = [flat[end - len(s) : end] for s, end in zip(sets, ends)]
        return self._minhash.from_token_sets(token_sets, self.num_perm, self.seed)

    def query(self, sketch) -> list[int]:
        return self._lsh.query(sketch)

    def insert(self, key: int, sketch) -> None:
        self._lsh.insert(key, sketch)


def _identity(value):
    return value  # the shingles are already 64-bit hashes


class DatasketchIndex:
    """datasketch's MinHash (numpy, ``affine64`` scheme over the same 64-bit shingles) and MinHashLSH."""

    def __init__(self, bands: int, rows: int, seed: int = SEED):
        from datasketch import MinHash, MinHashLSH

        self._minhash, self.num_perm, self.seed = MinHash, bands * rows, seed
        self._lsh = MinHashLSH(num_perm=bands * rows, params=(bands, rows))

    def sketch(self, sets: Sequence[np.ndarray]) -> list:
        return self._minhash.bulk(sets, num_perm=self.num_perm, seed=self.seed, hashfunc=_identity, scheme="affine64")

    def query(self, sketch) -> list[int]:
        return self._lsh.query(sketch)

    def insert(self, key: int, sketch) -> None:
        self._lsh.insert(key, sketch, check_duplication=False)


def make_index(library: Library, bands: int, rows: int) -> LshIndex:
    if library == "rensa":
        return RensaIndex(bands, rows)
    if library == "datasketch":
        return DatasketchIndex(bands, rows)
    raise ValueError(f"unknown MinHash library {library!r} (rensa or datasketch)")


def jaccard(a: np.ndarray, b: np.ndarray) -> float:
    """Exact Jaccard similarity of two sorted arrays of distinct shingle hashes."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    common = len(np.intersect1d(a, b, assume_unique=True))
    return common / (len(a) + len(b) - common)


def greedy_duplicates(
    views: Sequence[Sequence[np.ndarray | None]],
    threshold: float,
    num_perm: int = DEFAULT_NUM_PERM,
    library: Library = DEFAULT_LIBRARY,
    similarity: np.ndarray | None = None,
) -> np.ndarray:
    """For each row (in the given order), the index of the kept row it duplicates, or -1 if kept.

    Args:
        views: one or more shingle spaces (e.g. word 3-grams and character 5-grams); in each,
            row i's shingle hashes (repeats allowed), or None when the row is not compared
            in that space. A row
            is a duplicate when, in any of its spaces, a kept row reaches ``threshold``.
        threshold: the exact Jaccard similarity (of the shingle sets) that makes a duplicate.
        num_perm: MinHash budget; :func:`lsh_params` picks the bands within it.
        library: which MinHash LSH implementation proposes candidates.
        similarity: if given (a float array of the rows' length), filled with each
            duplicate's Jaccard similarity to the row it duplicates.
    """
    n_rows = len(views[0]) if views else 0
    bands, rows = lsh_params(threshold, num_perm)
    spaces = []
    for view in views:
        present = [i for i, s in enumerate(view) if s is not None and len(s)]
        index = make_index(library, bands, rows)
        sketches = dict(zip(present, index.sketch([view[i] for i in present])))
        spaces.append((ShingleSets(view), index, sketches))
    duplicate_of = np.full(n_rows, -1, dtype=np.int64)
    for i in range(n_rows):
        best, best_similarity = -1, 0.0
        for sets, index, sketches in spaces:
            if i not in sketches:
                continue
            for j in index.query(sketches[i]):
                score = jaccard(sets[i], sets[j])
                if score >= threshold and (score > best_similarity or (score == best_similarity and j < best)):
                    best, best_similarity = j, score
        if best >= 0:
            duplicate_of[i] = best
            if similarity is not None:
                similarity[i] = best_similarity
            continue
        for sets, index, sketches in spaces:
            if i in sketches:
                index.insert(i, sketches[i])
    return duplicate_of


class ShingleSets(dict):
    """Row -> its shingle set as sorted distinct hashes, made on first use (only candidates need one)."""

    def __init__(self, view: Sequence[np.ndarray | None]):
        super().__init__()
        self.view = view

    def __missing__(self, i: int) -> np.ndarray:
        self[i] = np.unique(self.view[i])
        return self[i]
