"""The parser keeps good answers and rejects each bad shape with its own reason."""

from __future__ import annotations

import json

import pytest

from tasks.runs.schema import TaskType
from tasks.synth.parsing import Rejected, RejectReason, parse_example, parse_task_list, script_share, strip_fences

LONG = " ".join(["word"] * 160)  # long-long: at least 300 words asked, half of it accepted
GOOD = {
    TaskType.RETRIEVAL: {"user_query": "how do tides work", "positive_document": "The moon pulls the oceans.",
                         "hard_negative_document": "Tidal pools host crabs."},
    TaskType.CLASSIFICATION: {"input_text": "The match ended 2-1.", "label": "sports", "misleading_label": "politics"},
    TaskType.SHORT_SHORT: {"input": "capital of Peru", "positive_document": "Lima"},
    TaskType.LONG_LONG: {"input": LONG, "positive_document": LONG + " more"},
    TaskType.STS: {"S1": "A cat sleeps on the mat.", "S2": "A cat naps on a rug.", "S3": "Dogs bark at night."},
    TaskType.BITEXT: {"S1": "The old cat sleeps all day long.", "S2": "El gato viejo duerme todo el día.",
                      "S3": "El perro joven come toda la noche."},
}
BITEXT_PLACEHOLDERS = {"src_code": "en", "tgt_code": "es"}


@pytest.mark.parametrize("task_type", list(TaskType))
def test_good_answers_parse(task_type):
    fields = parse_example(task_type, json.dumps(GOOD[task_type]), "en", BITEXT_PLACEHOLDERS)
    assert fields == {k: v.strip() for k, v in GOOD[task_type].items()}


@pytest.mark.parametrize("wrapper", ["```json\n{}\n```", "```\n{}\n```", "  {}  ", "```json {}```"])
def test_code_fences_are_stripped(wrapper):
    text = wrapper.replace("{}", json.dumps(GOOD[TaskType.STS]))
    assert parse_example(TaskType.STS, text, "en") == GOOD[TaskType.STS]


def _bad(**changes):
    data = {**GOOD[TaskType.RETRIEVAL], **changes}
    return json.dumps({k: v for k, v in data.items() if v is not ...})


@pytest.mark.parametrize("text, reason", [
    ('{"user_query": "x", ', RejectReason.INVALID_JSON),
    ("Sure! Here is your example: {...}", RejectReason.INVALID_JSON),
    ("{'user_query': 'python dict syntax'}", RejectReason.INVALID_JSON),  # never eval()
    ("[1, 2, 3]", RejectReason.NOT_OBJECT),
    ('"just a string"', RejectReason.NOT_OBJECT),
    (_bad(hard_negative_document=...), RejectReason.MISSING_KEY),
    (_bad(user_query=["a", "list"]), RejectReason.WRONG_TYPE),
    (_bad(positive_document=None), RejectReason.WRONG_TYPE),
    (_bad(user_query="   "), RejectReason.EMPTY_FIELD),
    (_bad(positive_document="${num_words} words about it"), RejectReason.PLACEHOLDER),
    (_bad(positive_document="..."), RejectReason.PLACEHOLDER),
    (_bad(hard_negative_document="Lorem ipsum dolor sit amet"), RejectReason.PLACEHOLDER),
    (_bad(positive_document="x" * 20_000), RejectReason.TOO_LONG),
    (_bad(positive_document="How do tides work"), RejectReason.COPIED),
    (_bad(hard_negative_document="The moon pulls the oceans."), RejectReason.COPIED),
])
def test_each_bad_shape_is_rejected_with_its_reason(text, reason):
    with pytest.raises(Rejected) as info:
        parse_example(TaskType.RETRIEVAL, text, "en")
    assert info.value.reason is reason


def test_long_long_rejects_short_texts():
    with pytest.raises(Rejected) as info:
        parse_example(TaskType.LONG_LONG, json.dumps({"input": "short", "positive_document": LONG}), "en")
    assert info.value.reason is RejectReason.TOO_SHORT


@pytest.mark.parametrize("language, text, ok", [
    ("th", "แมวนอนบนเสื่อ และหมาเห่าตอนกลางคืน", True),
    ("th", "The cat sleeps on the mat.", False),
    ("ru", "Кошка спит на коврике.", True),
    ("ru", "猫在垫子上睡觉。", False),
    ("ja", "猫はマットの上で寝ています。", True),
    ("ko", "고양이가 매트 위에서 자고 있다.", True),
    ("hi", "बिल्ली चटाई पर सो रही है।", True),
    ("hi", "The cat sleeps on the mat.", False),
    ("es", "El gato duerme en la alfombra.", True),
    ("es", "Кошка спит на коврике.", False),
])
def test_wrong_script_is_detected(language, text, ok):
    answer = json.dumps({"input": text, "positive_document": text + " 2"})
    if ok:
        parse_example(TaskType.SHORT_SHORT, answer, language)
    else:
        with pytest.raises(Rejected) as info:
            parse_example(TaskType.SHORT_SHORT, answer, language)
        assert info.value.reason is RejectReason.WRONG_SCRIPT


def test_bitext_checks_each_side_in_its_own_language():
    good = {"S1": "The old cat sleeps all day long.", "S2": "Старая кошка спит весь день.", "S3": "Собака ест."}
    parse_example(TaskType.BITEXT, json.dumps(good), "ru", {"src_code": "en", "tgt_code": "ru"})
    with pytest.raises(Rejected) as info:
        parse_example(TaskType.BITEXT, json.dumps({**good, "S2": "The cat is sleeping."}), "ru",
                      {"src_code": "en", "tgt_code": "ru"})
    assert info.value.reason is RejectReason.WRONG_SCRIPT


def test_classification_labels_may_be_english_codes_in_any_language():
    answer = {"input_text": "Кошка спит на коврике весь день.", "label": "animals", "misleading_label": "sports"}
    assert parse_example(TaskType.CLASSIFICATION, json.dumps(answer), "ru")["label"] == "animals"


@pytest.mark.parametrize("text, expected", [
    ('{"tasks": ["Find recipes.", "Find laws.", "find recipes."]}', ["Find recipes.", "Find laws."]),
    ('["Task one.", "  Task   two. ", 3, null, ""]', ["Task one.", "Task two."]),
    ('```json\n{"tasks": ["A task."]}\n```', ["A task."]),
])
def test_task_lists_are_parsed_cleaned_and_deduplicated(text, expected):
    assert parse_task_list(text) == expected


@pytest.mark.parametrize("text, reason", [
    ('{"tasks": [{"input": "x", "labels": ["y"]}]}', RejectReason.EMPTY_FIELD),
    ('{"a": ["x"], "b": ["y"]}', RejectReason.NOT_OBJECT),
    ('"tasks"', RejectReason.NOT_OBJECT),
    ("tasks: find recipes", RejectReason.INVALID_JSON),
])
def test_unusable_task_lists_are_rejected(text, reason):
    with pytest.raises(Rejected) as info:
        parse_task_list(text)
    assert info.value.reason is reason


def test_helpers():
    assert strip_fences("```json\n[1]\n```") == "[1]"
    assert script_share("abc", "Latin") == 1.0 and script_share("12 34", "Thai") == 1.0
