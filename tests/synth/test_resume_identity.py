"""A run id resumed with another generator is refused: each field that decides the answers is compared.

README, "Resuming": a resumed run with another model or sampling would mix answers of two generators
in one run. Each generator field is changed alone here (model, temperature, top_p, max_tokens, JSON
mode, server options, the prompt template set) and must be refused, naming that field; the same
parameters resume.
"""

from __future__ import annotations

import pytest

import tasks.synth.config
from tasks.llm.client import LLMSettings
from tasks.runs.manifest import ParameterMismatch, load_manifest, save_manifest
from tasks.storage.store import open_store
from tasks.synth.config import SynthesisConfig
from tasks.synth.run import prepare_run

STORED = SynthesisConfig(languages=["en"], task_types=["sts"], examples_per_shard=2, run_id="r1",
                         llm=LLMSettings(base_url="http://127.0.0.1:1/v1", model="qwen", temperature=1.0, top_p=1.0,
                                         max_tokens=4096, json_mode=True, extra_body={"repeat_penalty": 1.1}))

CHANGES = {
    "model": {"model": "llama-3-8b"},
    "temperature": {"temperature": 0.7},
    "top_p": {"top_p": 0.9},
    "max_tokens": {"max_tokens": 1024},
    "json_mode": {"json_mode": False},
    "extra_body": {"extra_body": {"repeat_penalty": 1.3}},  # a server option (llama.cpp sampling)
}


@pytest.fixture
def store(tmp_path):
    store = open_store(f"file://{tmp_path}")
    prepare_run(store, STORED)
    return store


@pytest.mark.parametrize("field", list(CHANGES))
def test_a_resumed_run_refuses_a_change_of_each_generator_field(store, field):
    changed = STORED.model_copy(update={"llm": STORED.llm.model_copy(update=CHANGES[field])})
    with pytest.raises(ParameterMismatch, match=rf"generator\.{field}: was .*, now "):
        prepare_run(store, changed)
    assert prepare_run(store, STORED).run_id == "r1"  # the same generator resumes


def test_a_resumed_run_refuses_another_template_set(store, monkeypatch):
    monkeypatch.setattr(tasks.synth.config, "template_set_id", lambda: "templates-of-another-version")
    with pytest.raises(ParameterMismatch, match=r"generator\.templates: .*made by another synthembed version"):
        prepare_run(store, STORED)


def test_a_run_stored_before_a_field_was_compared_still_resumes(store):
    manifest = load_manifest(store, "r1")
    del manifest.parameters["generator"]["extra_body"]  # a manifest written before server options were compared
    save_manifest(store, manifest)
    assert prepare_run(store, STORED).run_id == "r1"
