"""Decontamination: flag generated rows that contain a passage of an evaluation text.

A generator that has read the test sets can reproduce them, and a model trained on the
reproduction scores well for the wrong reason. As in GPT-3 (Brown et al. 2020, appendix C)
and Llama 2, a row is *contaminated* when one of its fields (query, positive, negative)
shares a long n-gram with an evaluation text, after normalisation (NFKC, casefold,
punctuation and extra whitespace removed: :mod:`tasks.clean.text_ngrams`):

* **word 13-grams** for spaced scripts: 13 words in a row almost never repeat by chance,
  while any copied sentence of ordinary length contains one;
* **character 50-grams** for Chinese, Japanese, Thai, Lao, Khmer and Burmese evaluation
  texts (their spaces are not word boundaries): about 13 words in Thai, 30 in Chinese;
* **shorter texts whole**: an evaluation text of 8-12 words (20-49 characters) is indexed as
  one n-gram of its own length and found when it appears whole in a row, so a 9-word verse
  planted in a generated document is caught. Below 8 words (20 characters) a match says more
  about the phrase than about the test set ("Jesus wept.", "Thank you very much."): skipped.

Every n-gram is kept as a 64-bit hash with the set of sources it came from, so the index of
the offline suite (186k texts from six tasks, 64k of them distinct: Bible verses, BBC articles,
the Lee documents) holds 1.5M n-grams in 21 MiB, built in ~2 s; a bitmap of the hashes' top bits
turns most lookups away before the sorted array is searched. Scanning 500k generated rows'
three fields takes about a minute on two cores (``tests/bench/bench_dedup.py``).

>>> index = build_index([("offline:demo", "In the beginning God created the heavens and the earth.")])
>>> rows = pl.DataFrame({"example_id": ["r1", "r2"], "language": ["en", "en"],
...     "query": ["what happened first?", "a question"], "negative": [None, None],
...     "positive": ["Scholars agree: in the beginning, God created the heavens and the Earth!", "unrelated"]})
>>> find_contaminated(rows, index).rows()
[('r1', 'contaminated', 'positive', 'offline:demo')]
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from tasks.clean.eval_texts import evaluation_texts_from_file, offline_suite_texts  # noqa: F401 (re-exported)
from tasks.clean.text_ngrams import Tokens, ngram_hashes, tokens, unspaced_mask, window_hashes

WORD_N = 13
CHAR_N = 50
MIN_WORDS = 8
MIN_CHARS = 20
FIELDS = ("query", "positive", "negative")
BATCH = 4096  # texts tokenised at once


@dataclass
class _Table:
    """One n-gram kind (words or characters): sorted hashes, each with a source-group id."""

    n: int
    widths: tuple[int, ...] = ()
    hashes: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    groups: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int32))
    bitmap: np.ndarray = field(default_factory=lambda: np.zeros(1, np.uint8))
    shift: int = 63

    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions in ``hashes`` found in the table, and their source-group ids."""
        if not len(self.hashes) or not len(hashes):
            return np.zeros(0, np.int64), np.zeros(0, np.int32)
        top = hashes >> np.uint64(self.shift)
        maybe = np.flatnonzero((self.bitmap[top >> np.uint64(3)] >> (top & np.uint64(7)).astype(np.uint8)) & 1)
        at = np.minimum(np.searchsorted(self.hashes, hashes[maybe]), len(self.hashes) - 1)
        hit = self.hashes[at] == hashes[maybe]
        return maybe[hit], self.groups[at[hit]]

    @property
    def nbytes(self) -> int:
        return self.hashes.nbytes + self.groups.nbytes + self.bitmap.nbytes


@dataclass
class EvalIndex:
    """The n-grams of a set of evaluation texts, each mapped to the sources it occurs in."""

    words: _Table
    chars: _Table
    sources: list[tuple[str, ...]]  # source-group id -> source names
    texts: int = 0  # (source, text) pairs read
    skipped_short: int = 0  # distinct texts too short to index

    @property
    def nbytes(self) -> int:
        return self.words.nbytes + self.chars.nbytes


def _table(
    n: int, hashes: list[np.ndarray], groups: list[np.ndarray], widths: set[int], sources: list[tuple]
) -> _Table:
    """Sorted distinct hashes, each with the id of the set of sources it occurs in, and the bitmap.

    ``groups`` holds, per n-gram, the source-set id of its text (an index into ``sources``);
    an n-gram found in texts of different source sets gets the union (appended to ``sources``).
    """
    table = _Table(n, tuple(sorted(widths)))
    if not sum(map(len, hashes)):  # no text of this kind was long enough to index
        return table
    pairs = pl.DataFrame({"h": np.concatenate(hashes), "g": np.concatenate(groups)}).unique().sort("h", "g")
    h, g = pairs["h"].to_numpy(), pairs["g"].to_numpy()
    first = np.concatenate([[True], h[1:] != h[:-1]])
    starts = np.flatnonzero(first)
    table.hashes, table.groups = h[starts], g[starts].astype(np.int32)
    # Rare: one n-gram in texts of different source sets (a quotation shared by two test sets).
    group_of = {s: i for i, s in enumerate(sources)}
    for at in np.flatnonzero(np.diff(np.append(starts, len(h))) > 1):
        union = tuple(
            sorted(
                set().union(*(sources[j] for j in g[starts[at] : (starts[at + 1] if at + 1 < len(starts) else len(h))]))
            )
        )
        if union not in group_of:
            group_of[union] = len(sources)
            sources.append(union)
        table.groups[at] = group_of[union]
    # A bitmap of ~16 bits per hash turns away ~94 % of the misses without a binary search.
    bits = max(16, int(np.ceil(np.log2(16 * len(table.hashes)))))
    table.shift = 64 - bits
    table.bitmap = np.zeros(1 << (bits - 3), np.uint8)
    top = table.hashes >> np.uint64(table.shift)
    np.bitwise_or.at(table.bitmap, top >> np.uint64(3), (1 << (top & np.uint64(7))).astype(np.uint8))
    return table


def build_index(
    texts: Iterable[tuple[str, str]],
    word_n: int = WORD_N,
    char_n: int = CHAR_N,
    min_words: int = MIN_WORDS,
    min_chars: int = MIN_CHARS,
) -> EvalIndex:
    """Index ``(source, text)`` pairs, e.g. from :func:`offline_suite_texts` or
    :func:`evaluation_texts_from_file`; a text from several sources keeps all their names."""
    # Each distinct text once, with the set of sources it came from (the Bible tasks share verses).
    text_sources: dict[str, set[str]] = {}
    count = 0
    for source, text in texts:
        text_sources.setdefault(text, set()).add(source)
        count += 1
    set_ids: dict[tuple, int] = {}
    text_set = np.array([set_ids.setdefault(tuple(sorted(s)), len(set_ids)) for s in text_sources.values()], np.int32)
    source_sets = sorted(set_ids, key=set_ids.get)
    collected = {"word": ([], [], set()), "char": ([], [], set())}
    skipped = 0
    distinct = list(text_sources)
    for start in range(0, len(distinct), BATCH):
        series = pl.Series(distinct[start : start + BATCH], dtype=pl.String)
        ids = text_set[start : start + BATCH]
        unspaced = unspaced_mask(series)
        for kind, n, minimum, mask in (("word", word_n, min_words, ~unspaced), ("char", char_n, min_chars, unspaced)):
            if not mask.any():
                continue
            toks = tokens(series.filter(pl.Series(mask)), kind)
            keep = toks.lengths >= minimum
            skipped += int((~keep).sum())
            # Shorter texts give one n-gram: the whole text.
            grams = ngram_hashes(Tokens(toks.hashes[np.repeat(keep, toks.lengths)], _offsets(toks.lengths[keep])), n)
            hashes, groups, widths = collected[kind]
            hashes.append(grams.hashes)
            groups.append(np.repeat(ids[mask][keep], np.diff(grams.offsets)))
            widths.update(np.minimum(toks.lengths[keep], n).tolist())
    words = _table(word_n, *collected["word"], source_sets)
    chars = _table(char_n, *collected["char"], source_sets)
    return EvalIndex(words, chars, source_sets, count, skipped)


def _offsets(lengths: np.ndarray) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)


def _matches(texts: pl.Series, table: _Table, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(row, source-group) for every indexed n-gram found in ``texts``."""
    rows, groups = [], []
    if not len(table.hashes):
        return np.zeros(0, np.int64), np.zeros(0, np.int32)
    for start in range(0, len(texts), BATCH):
        toks = tokens(texts.slice(start, BATCH), kind)
        row_of = np.repeat(np.arange(len(toks.lengths)), toks.lengths)
        for _, starts, hashes in window_hashes(toks, table.widths):
            at, group = table.lookup(hashes)
            rows.append(row_of[starts[at]] + start)
            groups.append(group)
    return np.concatenate(rows or [[]]).astype(np.int64), np.concatenate(groups or [[]]).astype(np.int32)


def find_contaminated(frame: pl.DataFrame, index: EvalIndex, fields: Sequence[str] = FIELDS) -> pl.DataFrame:
    """Rows sharing an indexed n-gram: ``example_id``, ``reason`` (``contaminated``), ``field``, ``source``.

    One line per (row, field, evaluation source); in ``example_id`` then field order. The
    character pass runs on fields of unspaced languages or with any unspaced-script letter.
    """
    fields = [f for f in fields if f in frame.columns]
    found = []
    for name in fields:
        texts = frame[name]
        rows, groups = _matches(texts, index.words, "word")
        if len(index.chars.hashes):
            languages = frame["language"] if "language" in frame.columns else None
            candidates = np.flatnonzero(unspaced_mask(texts, languages, min_share=0.0))
            char_rows, char_groups = _matches(texts[candidates], index.chars, "char")
            rows, groups = np.concatenate([rows, candidates[char_rows]]), np.concatenate([groups, char_groups])
        pairs = pl.DataFrame({"row": rows, "group": groups}).unique()
        sources = [index.sources[g] for g in pairs["group"].to_list()]
        found.append(
            pl.DataFrame(
                {"row": pairs["row"], "source": sources}, schema={"row": pl.Int64, "source": pl.List(pl.String)}
            )
            .explode("source")
            .with_columns(field=pl.lit(name))
        )
    if not found:
        return pl.DataFrame(
            schema={"example_id": pl.String, "reason": pl.String, "field": pl.String, "source": pl.String}
        )
    hits = pl.concat(found).unique()
    ids = frame["example_id"]
    order = {f: i for i, f in enumerate(fields)}
    return (
        hits.with_columns(example_id=ids.gather(hits["row"]), reason=pl.lit("contaminated"))
        .with_columns(rank=pl.col("field").replace_strict(order, return_dtype=pl.Int32))
        .sort("example_id", "rank", "source")
        .select("example_id", "reason", "field", "source")
    )
