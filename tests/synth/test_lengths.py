"""Lengths in the unit that fits the script, checked against what each prompt asked, and max_tokens sized from them."""

from __future__ import annotations

import json

import pytest

from tasks.language.scripts import word_count
from tasks.runs.schema import TaskType
from tasks.synth.check_settings import ExampleChecks
from tasks.synth.lengths import LengthPolicy, completion_tokens_needed, field_bounds
from tasks.synth.parsing import Rejected, RejectReason, parse_example
from tests.support.real_text import passage


@pytest.mark.parametrize("language", ["zh", "ja", "th", "km"])  # Burmese: too little real text here
def test_unspaced_long_long_texts_are_kept(language):
    """Issue 10: a 1,000-character Chinese text was 'one word', so no zh/ja/th long-long example could pass."""
    text = passage(language, min_chars=1500, seed=1)
    other = passage(language, min_chars=1500, seed=2)
    assert len(text.split()) < 150  # what a whitespace count sees
    fields = parse_example(TaskType.LONG_LONG, json.dumps({"input": text, "positive_document": other}, ensure_ascii=False),
                           language, {"min_words": 300})
    assert word_count(fields["input"], language) >= 150


def test_a_short_chinese_text_is_still_too_short():
    text = passage("zh", min_chars=60)
    with pytest.raises(Rejected) as info:
        parse_example(TaskType.LONG_LONG, json.dumps({"input": text, "positive_document": text + "。"}, ensure_ascii=False),
                      "zh", {"min_words": 300})
    assert info.value.reason is RejectReason.TOO_SHORT


def _retrieval(query: str, doc_words: int) -> str:
    doc = " ".join(f"w{i}" for i in range(doc_words))
    return json.dumps({"user_query": query, "positive_document": "Positive " + doc, "hard_negative_document": "Negative " + doc})


@pytest.mark.parametrize("num_words, doc_words, reason", [
    (200, 180, None), (200, 101, None), (200, 99, RejectReason.TOO_SHORT), (200, 401, RejectReason.TOO_LONG),
    (50, 24, RejectReason.TOO_SHORT), (500, 260, None),
])
def test_requested_document_lengths_are_checked_within_the_policy(num_words, doc_words, reason):
    placeholders = {"num_words": num_words, "query_length": "5 to 15 words"}
    text = _retrieval("how do ocean tides work near the coast", doc_words - 1)
    if reason is None:
        parse_example(TaskType.RETRIEVAL, text, "en", placeholders)
    else:
        with pytest.raises(Rejected) as info:
            parse_example(TaskType.RETRIEVAL, text, "en", placeholders)
        assert info.value.reason is reason


@pytest.mark.parametrize("query_length, query, ok", [
    ("less than 5 words", "tides", True), ("less than 5 words", "why do tides rise and fall twice every day here", False),
    ("at least 10 words", "tides", False), ("5 to 15 words", "how do ocean tides work", True),
])
def test_requested_query_lengths_are_checked(query_length, query, ok):
    text = _retrieval(query, 100)
    placeholders = {"num_words": 100, "query_length": query_length}
    if ok:
        parse_example(TaskType.RETRIEVAL, text, "en", placeholders)
    else:
        with pytest.raises(Rejected):
            parse_example(TaskType.RETRIEVAL, text, "en", placeholders)


def test_the_long_long_minimum_and_the_leeway_are_settings():
    text = " ".join(["word"] * 60)
    answer = json.dumps({"input": text, "positive_document": text + " more"})
    with pytest.raises(Rejected):
        parse_example(TaskType.LONG_LONG, answer, "en", {"min_words": 300})
    lenient = ExampleChecks(lengths=LengthPolicy(long_min_words=100, min_ratio=0.5))
    parse_example(TaskType.LONG_LONG, answer, "en", {"min_words": 100}, lenient)
    assert field_bounds("long_long", {}, LengthPolicy(long_min_words=100)) == {"input": (50, None), "positive_document": (50, None)}


def test_max_tokens_follows_the_lengths_asked_for_and_the_language():
    policy = LengthPolicy()
    long_ask = {"num_words": 500, "query_length": "5 to 15 words"}
    english = completion_tokens_needed("retrieval", long_ask, "en", policy)
    assert english > 1536  # two 500-word documents did not fit the old fixed limit
    assert completion_tokens_needed("retrieval", long_ask, "my", policy) > 3 * english  # Burmese tokenizes long
    assert completion_tokens_needed("short_short", {}, "en", policy) < 500  # short answers reserve little
    bitext = {"unit": "sentence", "src_code": "en", "tgt_code": "ta"}
    assert completion_tokens_needed("bitext", bitext, "en", policy) > completion_tokens_needed("sts", {"unit": "sentence"}, "en", policy)


@pytest.mark.parametrize("text", [r"The ratio is \frac{a}{b} for $x^{2}$.", "Use f'{value:.2f}' or {key: value} in Python.",
                                  "print(f'{label}: {task}')", r"\begin{task} ... \end{task}"])
def test_braces_of_latex_and_code_are_not_placeholders(text):
    answer = json.dumps({"input": "formatting numbers in a document", "positive_document": text})
    parse_example(TaskType.SHORT_SHORT, answer, "en")


@pytest.mark.parametrize("leftover", ["${num_words} words about it", "A text in {src_lang}.", "{{task}} example",
                                      "${ language } text", "about {num_words} words"])
def test_our_own_placeholders_left_in_an_answer_are_rejected(leftover):
    answer = json.dumps({"input": "formatting numbers", "positive_document": leftover})
    with pytest.raises(Rejected) as info:
        parse_example(TaskType.SHORT_SHORT, answer, "en")
    assert info.value.reason is RejectReason.PLACEHOLDER
