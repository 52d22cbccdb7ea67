"""Every template renders with every combination of its placeholder values."""

from __future__ import annotations

import itertools

import pytest

from tasks.language.languages import LANGUAGES, language_name, script_note
from tasks.synth.sampling import sample_examples
from tasks.synth.task_types import TASK_SPECS, TaskType
from tasks.synth.templates import BRAINSTORM, GENERATE


def _combinations(task_type: TaskType):
    spec = TASK_SPECS[task_type]
    names = list(spec.placeholders)
    for values in itertools.product(*(spec.placeholders[n] for n in names)):
        yield dict(zip(names, values))


@pytest.mark.parametrize("task_type", list(TaskType))
def test_every_generation_template_renders_with_every_value_combination(task_type):
    templates = GENERATE[task_type]
    assert templates, f"{task_type} has no generation template"
    rendered = 0
    for template in templates:
        for values in _combinations(task_type):
            filled = {**values, "task": "Given a question, retrieve an answer.", "language": "Spanish",
                      "script_note": "", "src_lang": "English", "tgt_lang": "Swahili",
                      "src_script_note": "", "tgt_script_note": "", "min_words": 300}
            text = template.render(filled)
            assert "${" not in text
            for value in values.values():
                assert str(value) in text, f"{template.id} does not use {value!r}"
            for key in TASK_SPECS[task_type].output_keys:
                assert f'"{key}"' in text, f"{template.id} does not ask for key {key!r}"
            rendered += 1
    assert rendered >= len(templates)


@pytest.mark.parametrize("task_type", list(TaskType))
def test_every_language_name_fits_every_template(task_type):
    for template in GENERATE[task_type]:
        for code in LANGUAGES:
            values = {n: v[0] for n, v in TASK_SPECS[task_type].placeholders.items()}
            text = template.render({**values, "task": "t", "language": language_name(code), "min_words": 300,
                                    "script_note": script_note(code), "src_script_note": script_note(code),
                                    "tgt_script_note": "", "src_lang": language_name(code),
                                    "tgt_lang": "English"})
            assert language_name(code) + script_note(code) in text


@pytest.mark.parametrize("code, phrase", [("sr", "Serbian (Cyrillic script)"), ("uz", "Uzbek (the Latin alphabet)"),
                                          ("ku", "Kurdish (the Latin alphabet)"), ("pa", "Punjabi (Gurmukhi script)"),
                                          ("sd", "Sindhi (Arabic script)"), ("zh", "Chinese (Simplified Chinese characters)")])
def test_prompts_name_the_script_of_multi_script_languages(code, phrase):
    for task_type in TaskType:
        request = sample_examples(task_type, code, 1, seed=3)[0]
        text = request.template.render({"task": "t", **request.placeholders})
        assert phrase in text, (task_type, text)


def test_single_script_languages_are_named_alone():
    """Seen on the embedded model: "Spanish (the Latin alphabet)" made it write about the Latin alphabet."""
    for task_type in TaskType:
        text = (r := sample_examples(task_type, "es", 1, seed=3)[0]).template.render({"task": "t", **r.placeholders})
        assert "alphabet" not in text and "script" not in text


@pytest.mark.parametrize("task_type", [t for t in TaskType if TASK_SPECS[t].brainstorm])
def test_brainstorm_templates_need_no_placeholders_and_ask_for_a_task_list(task_type):
    for template in BRAINSTORM[task_type]:
        assert template.fields() == set()
        assert '"tasks"' in template.render({})


def test_symmetric_types_have_no_brainstorm_and_asymmetric_types_do():
    assert set(BRAINSTORM) == {t for t in TaskType if TASK_SPECS[t].brainstorm}
    assert not TASK_SPECS[TaskType.STS].brainstorm and not TASK_SPECS[TaskType.BITEXT].brainstorm


def test_template_ids_are_unique_and_name_their_type():
    ids = [t.id for group in (*BRAINSTORM.values(), *GENERATE.values()) for t in group]
    assert len(ids) == len(set(ids))
    for task_type, templates in GENERATE.items():
        assert all(t.id.startswith(f"{task_type.value}.generate.") for t in templates)


def test_missing_placeholder_is_an_error_not_an_empty_prompt():
    with pytest.raises(KeyError):
        GENERATE[TaskType.STS][0].render({"unit": "sentence"})


def test_value_sets_are_exactly_the_papers():
    spec = TASK_SPECS[TaskType.RETRIEVAL].placeholders
    assert spec["num_words"] == (50, 100, 200, 300, 400, 500)
    assert spec["query_length"] == ("less than 5 words", "5 to 15 words", "at least 10 words")
    assert TASK_SPECS[TaskType.BITEXT].placeholders["low_score"] == (1.5, 2, 2.5)
    assert TASK_SPECS[TaskType.STS].placeholders["low_score"] == (2.5, 3, 3.5)
    assert TASK_SPECS[TaskType.CLASSIFICATION].placeholders["num_words"] == (
        "less than 10", "at least 10", "at least 50", "at least 100", "at least 200")
    assert len(LANGUAGES) == 93
