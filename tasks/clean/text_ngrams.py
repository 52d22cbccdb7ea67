"""Hashed n-grams of normalised text, computed for a whole column at once.

Both cleaning steps compare texts by the n-grams they share: near-duplicate removal by the
Jaccard overlap of shingle sets (:mod:`tasks.clean.near_dup`), decontamination by any shared
long n-gram (:mod:`tasks.clean.decontaminate`). Both need the same three steps, over hundreds of
thousands of texts, so they are done here with polars (Rust) and numpy instead of per-text Python:

1. **normalise**: NFKC, casefold, every punctuation or symbol character to a space, runs of
   whitespace to one space (``"Hello,  WORLD!"`` -> ``"hello world"``). polars has no casefold:
   Unicode lowercase, then the two foldings casefold adds that matter (ß -> ss, final ς -> σ),
   so "STRASSE" and "Straße" normalise alike.
2. **tokenise**: words (split on spaces), or characters for scripts written without spaces
   between words (Chinese, Japanese, Thai, Lao, Khmer, Burmese) and for very short texts.
3. **hash n-grams**: each token gets polars' 64-bit hash; an n-gram's hash is a polynomial of its
   token hashes, finished with a 64-bit mixer, so an n-gram costs 8 bytes whatever its length.
   The hashes are stable across processes (same polars version) but are not meant to be stored.

Texts come back as one flat ``uint64`` array plus row offsets: row ``i``'s n-grams are
``hashes[offsets[i]:offsets[i + 1]]``.

>>> ngrams = ngram_hashes(tokens(["The cat sat on the mat.", "the CAT sat"], "word"), 3)
>>> ngrams.offsets.tolist()                  # 4 word 3-grams, then 1
[0, 4, 5]
>>> bool(ngrams.hashes[0] == ngrams.hashes[4])     # "the cat sat" in both
True
>>> normalize(["Ｆｕｌｌ-width, ＡＢＣ!", "STRASSE", "Straße"])
['full width abc', 'strasse', 'strasse']
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Literal, NamedTuple

import numpy as np
import polars as pl

from tasks.language.scripts import UNSPACED, UNSPACED_LETTER

Tokenization = Literal["word", "char"]

_P = np.uint64(0x100000001B3)  # odd multiplier (the FNV prime) of the polynomial n-gram hash


class Tokens(NamedTuple):
    """Token hashes of many texts: row ``i`` owns ``hashes[offsets[i]:offsets[i + 1]]``."""

    hashes: np.ndarray  # uint64
    offsets: np.ndarray  # int64, len(rows) + 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


NGrams = Tokens  # the same layout: row i's n-gram hashes


def normalized(expr: pl.Expr) -> pl.Expr:
    """The normalisation of step 1 as a polars expression (usable in any frame)."""
    return (
        expr.str.normalize("NFKC")
        .str.to_lowercase()
        .str.replace_many(["ß", "ς"], ["ss", "σ"])  # what casefold adds to lowercase, for German and Greek
        .str.replace_all(r"[\p{P}\p{S}]+", " ")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def normalize(texts: Sequence[str] | pl.Series) -> list[str]:
    """Normalised texts (step 1), for inspection and tests."""
    return pl.select(normalized(pl.lit(pl.Series(texts, dtype=pl.String)))).to_series().to_list()


def unspaced_mask(texts: pl.Series, languages: pl.Series | None = None, min_share: float = 0.5) -> np.ndarray:
    """Which texts to cut into characters: an unspaced language, or mostly letters of such a script.

    The language column alone is not enough: a bitext row's second sentence is in the *other*
    language, and a task definition has no language at all, so the letters decide too.

    >>> unspaced_mask(pl.Series(["今天天气很好", "hello", "สวัสดีครับ"])).tolist()
    [True, False, True]
    """
    counts = pl.DataFrame({"t": texts.fill_null("")}).select(
        ours=pl.col("t").str.count_matches(UNSPACED_LETTER), letters=pl.col("t").str.count_matches(r"\p{L}")
    )
    by_script = (counts["ours"] >= min_share * counts["letters"]) & (counts["ours"] > 0)
    if languages is not None:
        by_script = by_script | languages.is_in(list(UNSPACED))
    return by_script.to_numpy()


def tokens(
    texts: Sequence[str | None] | pl.Series,
    tokenization: Tokenization,
    keep_spaces: bool = False,
    normalize: bool = True,
) -> Tokens:
    """Normalise and tokenise texts (steps 1-2); None counts as an empty text.

    ``"char"`` drops the spaces (an unspaced script's spaces are not word boundaries) unless
    ``keep_spaces``: short texts in spaced languages keep them, so "a b" and "ab" differ.
    ``normalize=False``: the texts are normalised already (saves the regex passes).
    """
    series = pl.Series(texts, dtype=pl.String)
    text = normalized(pl.lit(series)) if normalize else pl.lit(series)
    if tokenization == "word":  # normalised text has single spaces; "" would split into [""]
        lists = pl.select(pl.when(text != "").then(text.str.split(" "))).to_series()
    else:
        lists = pl.select(text.str.extract_all("." if keep_spaces else r"\S")).to_series()
    lengths = lists.list.len().fill_null(0).to_numpy().astype(np.int64)
    hashes = lists.explode(empty_as_null=False).drop_nulls().hash(seed=0).to_numpy()
    return Tokens(hashes, np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64))


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finaliser: every input bit reaches every output bit."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


def window_hashes(toks: Tokens, widths: Sequence[int]) -> Iterator[tuple[int, np.ndarray, np.ndarray]]:
    """For each width w (ascending): the start positions (token indices) of every w-token window
    that fits inside its row, and the windows' hashes. Rows of fewer tokens have none."""
    widths = sorted(set(widths))
    total = len(toks.hashes)
    left = np.repeat(toks.offsets[1:], toks.lengths) - np.arange(total)  # tokens to the end of the row
    padded = np.concatenate([toks.hashes, np.zeros(widths[-1], np.uint64)])
    h = np.zeros(total, np.uint64)
    with np.errstate(over="ignore"):
        for k in range(widths[-1]):
            # Grow every window by one token; those that run past their row are never emitted.
            h *= _P
            h += padded[k : k + total]
            if k + 1 in widths:
                starts = np.flatnonzero(left > k)
                yield k + 1, starts, _finish(h[starts], k + 1)


def _finish(h: np.ndarray, width: int) -> np.ndarray:
    # The width is mixed in so that windows of different widths never share a hash by construction.
    return _mix(h ^ np.uint64((width * 0x9E3779B97F4A7C15) % 2**64))


def ngram_hashes(toks: Tokens, n: int, whole_if_shorter: bool = True) -> NGrams:
    """Hashes of every n-token window of each row (step 3), rows in input order, windows in
    order of position.

    ``whole_if_shorter``: a row with fewer than ``n`` (but some) tokens yields one n-gram of all
    its tokens, hashed like a window of that width (so a 9-word text is found whole among the
    9-grams of another); otherwise it yields none.
    """
    short = np.flatnonzero((toks.lengths > 0) & (toks.lengths < n)) if whole_if_shorter else np.zeros(0, np.int64)
    widths = sorted({n, *toks.lengths[short].tolist()})
    starts, hashes = [], []
    for width, at, h in window_hashes(toks, widths):
        if width == n:
            starts.append(at)
            hashes.append(h)
        else:  # keep only the window that starts a row of exactly this length
            rows = short[toks.lengths[short] == width]
            pick = np.searchsorted(at, toks.offsets[rows])
            starts.append(at[pick])
            hashes.append(h[pick])
    at, h = np.concatenate(starts), np.concatenate(hashes)
    if len(widths) > 1:
        order = np.argsort(at, kind="stable")
        at, h = at[order], h[order]
    rows = np.searchsorted(toks.offsets, at, side="right") - 1
    counts = np.bincount(rows, minlength=len(toks.offsets) - 1)
    return NGrams(h, np.concatenate([[0], np.cumsum(counts)]).astype(np.int64))


def row_slices(ngrams: NGrams) -> list[np.ndarray]:
    """Each row's n-gram hashes as its own array (views, no copy)."""
    return np.split(ngrams.hashes, ngrams.offsets[1:-1])
