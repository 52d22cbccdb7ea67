"""The LLM-output parser fuzzed: random and adversarial answers never raise past its boundary and
never execute anything. LLM output is data. (That the adversarial ones parse fast is timed by
tests/bench/bench_parsing.py, not here: no wall-clock limits in unit tests.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tasks.synth.parsing import Rejected, parse_example, parse_task_list
from tasks.synth.task_types import TASK_SPECS, TaskType
from tests.support.adversarial_answers import ADVERSARIAL_ANSWERS

LANGUAGES = ["en", "ru", "zh", "ja", "th", "ar", "hi", "sw"]
PLACEHOLDERS = {"src_code": "en", "tgt_code": "de"}
OUTPUT_KEYS = list(dict.fromkeys(key for spec in TASK_SPECS.values() for key in spec.output_keys))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=200),
    lambda children: st.lists(children, max_size=6) | st.dictionaries(st.text(max_size=20), children, max_size=6),
    max_leaves=40)
# any code points, lone surrogates included (what a broken decoder could hand us)
any_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=()), max_size=2000)


def _parse_bounded(task_type: TaskType, text: str, language: str) -> None:
    """Kept with the task type's keys, all strings, or rejected; never raised."""
    try:
        fields = parse_example(task_type, text, language, PLACEHOLDERS)
        assert set(fields) == set(TASK_SPECS[task_type].output_keys) and all(isinstance(v, str) for v in fields.values())
    except Rejected:
        pass
    try:
        assert all(isinstance(t, str) for t in parse_task_list(text))
    except Rejected:
        pass


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list(TaskType)), any_text, st.sampled_from(LANGUAGES))
def test_random_text_is_kept_or_rejected_never_raised(task_type, text, language):
    _parse_bounded(task_type, text, language)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(list(TaskType)), json_values, st.sampled_from(LANGUAGES), st.booleans())
def test_random_json_in_and_out_of_fences_is_kept_or_rejected(task_type, value, language, fenced):
    text = json.dumps(value, ensure_ascii=False, allow_nan=True)
    _parse_bounded(task_type, f"```json\n{text}\n```" if fenced else text, language)


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(list(TaskType)), st.dictionaries(st.sampled_from([*OUTPUT_KEYS, "extra"]),
                                                      st.one_of(st.text(max_size=300), json_values), max_size=11))
def test_objects_with_the_right_keys_and_wrong_values(task_type, obj):
    _parse_bounded(task_type, json.dumps(obj, ensure_ascii=False), "en")


@pytest.mark.parametrize("text", ADVERSARIAL_ANSWERS)
def test_adversarial_answers_are_rejected_or_kept(text):
    for task_type in TaskType:
        _parse_bounded(task_type, text, "en")


def test_code_in_an_answer_is_never_executed(tmp_path):
    marker = tmp_path / "pwned"
    payloads = [f"__import__('pathlib').Path({str(marker)!r}).touch()",
                f"{{'S1': __import__('pathlib').Path({str(marker)!r}).touch(), 'S2': 'x', 'S3': 'y'}}",
                json.dumps({"S1": f"eval(\"__import__('pathlib').Path({str(marker)!r}).touch()\")", "S2": "b", "S3": "c"})]
    for text in payloads:
        for task_type in TaskType:
            _parse_bounded(task_type, text, "en")
    assert not Path(marker).exists()


def test_a_lone_surrogate_is_rejected_not_kept_or_raised():
    """Review: a JSON "\\ud800" escape made CLD2 raise, and a short field with it was kept (then unwritable)."""
    answer = json.dumps({"input": "Как отменить задачу \ud800", "positive_document": "Отмена задач в asyncio"})
    try:
        parse_example(TaskType.SHORT_SHORT, answer, "ru")
    except Rejected as rejected:
        assert rejected.reason.value == "invalid_json"
    else:
        raise AssertionError("a lone surrogate was kept")
    assert parse_task_list(json.dumps({"tasks": ["Find laws \udfff.", "Find recipes."]})) == ["Find recipes."]
