"""The real-text corpus is real, in the right script, wide and deterministic."""

from __future__ import annotations

import pytest

pytest.importorskip("django")  # a pinned test dependency; without it there is no corpus

from tasks.language.languages import LANGUAGES
from tasks.language.scripts import script_share
from tests.support.real_text import (
    MIN_SENTENCES,
    REAL_TEXT_LANGUAGES,
    VARIANTS,
    english_sentences,
    passage,
    sentences,
)


def test_at_least_70_of_our_languages_and_all_are_ours() -> None:
    assert len(REAL_TEXT_LANGUAGES) >= 70
    assert set(REAL_TEXT_LANGUAGES) <= set(LANGUAGES)


@pytest.mark.parametrize("language", [*REAL_TEXT_LANGUAGES, *VARIANTS])
def test_every_language_has_enough_clean_text(language: str) -> None:
    texts = sentences(language)
    assert len(texts) >= MIN_SENTENCES
    assert len(set(texts)) == len(texts)
    assert len(passage(language, 400)) >= 400
    for text in texts:
        assert "%(" not in text and "%s" not in text and "{0}" not in text and "<" not in text, text
        assert text == text.strip() and "  " not in text, text


def test_chinese_passage_is_mostly_han_and_unspaced() -> None:
    text = passage("zh", 400)
    assert script_share(text, "Han") > 0.9
    assert text.count(" ") < len(text) / 50


@pytest.mark.parametrize(("language", "script"), [("ru", "Cyrillic"), ("sr", "Cyrillic"), ("sr-Latn", "Latin"), ("ja", "Japanese"), ("ar", "Arabic"), ("hi", "Devanagari"), ("th", "Thai")])
def test_passages_are_in_the_language_script(language: str, script: str) -> None:
    assert script_share(passage(language, 400, seed=3), script) >= 0.9


def test_deterministic_per_seed_and_different_across_seeds() -> None:
    assert passage("de", 300, seed=1) == passage("de", 300, seed=1)
    assert passage("de", 300, seed=1) != passage("de", 300, seed=2)
    assert passage("de", 300) != passage("fr", 300)


def test_english_is_the_source_and_translations_differ_from_it() -> None:
    english = set(english_sentences())
    assert len(english) >= 150 and sentences("en") == english_sentences()
    assert "This field is required." in english
    assert not english & set(sentences("de"))


def test_too_long_a_passage_and_unknown_languages_are_errors() -> None:
    with pytest.raises(ValueError, match="fy has only"):
        passage("fy", 100_000)
    with pytest.raises(KeyError, match="no Django translations"):
        sentences("xh")
