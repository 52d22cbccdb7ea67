"""Hashed n-grams: the vectorised windows equal a plain-Python reference, and widths line up."""

from __future__ import annotations

import random

import numpy as np
import polars as pl

from tasks.clean.text_ngrams import ngram_hashes, normalize, tokens, unspaced_mask, window_hashes


def _reference(texts: list[str], n: int) -> list[list[tuple[str, ...]]]:
    """Every n-word window of each normalised text, or the whole text when it is shorter."""
    out = []
    for words in (t.split() for t in normalize(texts)):
        out.append([tuple(words[i : i + n]) for i in range(len(words) - n + 1)] or ([tuple(words)] if words else []))
    return out


def test_ngram_hashes_match_a_python_reference():
    rng = random.Random(0)
    vocabulary = ["alpha", "beta", "Gamma,", "delta.", "epsilon", "zeta"]
    texts = [" ".join(rng.choice(vocabulary) for _ in range(rng.randint(0, 12))) for _ in range(200)]
    grams = ngram_hashes(tokens(texts, "word"), 4)
    expected = _reference(texts, 4)
    seen: dict[tuple, int] = {}
    for i, windows in enumerate(expected):
        got = grams.hashes[grams.offsets[i] : grams.offsets[i + 1]].tolist()
        assert len(got) == len(windows)
        for window, h in zip(windows, got):
            assert seen.setdefault(window, h) == h  # the same window always hashes the same
    assert len(set(seen.values())) == len(seen)  # and different windows differently


def test_a_short_text_whole_equals_the_same_window_inside_a_longer_one():
    short, long = tokens(["the cat sat"], "word"), tokens(["yesterday the cat sat on a mat"], "word")
    whole = ngram_hashes(short, 13).hashes  # 3 words < 13: one n-gram, the whole text
    widths = {w: h for w, _, h in window_hashes(long, [3, 13])}
    assert whole[0] in widths[3].tolist()
    assert len(widths[13]) == 0  # a 7-word text has no 13-word window


def test_char_tokens_drop_or_keep_spaces_and_nulls_are_empty():
    assert tokens(["ab c", None, ""], "char").lengths.tolist() == [3, 0, 0]
    assert tokens(["ab c"], "char", keep_spaces=True).lengths.tolist() == [4]
    assert tokens(["Hello,   WORLD!", None, "!!!"], "word").lengths.tolist() == [2, 0, 0]


def test_unspaced_texts_by_language_or_by_script():
    texts = pl.Series(["hello world", "hello world", "これは日本語の文です", "Python 3.12 のリリース"])
    languages = pl.Series(["en", "ja", "en", "ja"])
    assert unspaced_mask(texts, languages).tolist() == [False, True, True, True]
    assert np.array_equal(unspaced_mask(texts), [False, False, True, False])
