"""Which embedded generator a run uses: ``--embedded-model`` picks a shipped GGUF, the run records
the name it was served under (so a retry starts the same one), requests in flight match the
server's slots, and a bad choice is one line, exit 2, before anything starts."""

from __future__ import annotations

import pytest

from flows.cli import main
from flows.services import embedded_config, embedded_model, made_with_embedded_llm
from infra.services.llama import DEFAULT_SLOTS, RECOMMENDED_EXTRA_BODY
from tasks.llm.client import LLMSettings
from tasks.synth.config import SynthesisConfig


def _config(model: str, concurrency: int = 4) -> SynthesisConfig:
    llm = LLMSettings(base_url="http://127.0.0.1:1/v1", model=model, concurrency=concurrency)
    return SynthesisConfig(languages="en", task_types="sts", examples_per_shard=2, run_id="r1", llm=llm)


@pytest.mark.parametrize("asked, served", [
    ("embedded", "qwen2.5-coder-0.5b-instruct"),  # no --embedded-model: the default
    ("qwen2.5-coder-0.5b", "qwen2.5-coder-0.5b-instruct"),
    ("qwen2.5-coder-1.5b", "qwen2.5-coder-1.5b-instruct"),
    ("qwen2.5-coder-1.5b-instruct", "qwen2.5-coder-1.5b-instruct"),  # a stored run, resumed or retried
])
def test_the_run_records_the_model_it_was_served(asked, served):
    config = embedded_config(_config(asked, concurrency=1), "http://127.0.0.1:9/v1", max_tokens=100, slots=3)
    assert config.llm.model == served and config.llm.base_url == "http://127.0.0.1:9/v1"
    assert config.llm.concurrency == 3  # one request per slot: none idle, none waiting in the server's queue
    assert config.llm.extra_body == RECOMMENDED_EXTRA_BODY and config.llm.max_tokens == 100
    assert made_with_embedded_llm(config.llm)  # a retry starts the embedded server again ...
    assert embedded_model(config.llm) == asked.removesuffix("-instruct").replace("embedded", "qwen2.5-coder-0.5b")
    # ... and its identity (what a resume compares) is the same whatever was asked
    assert embedded_config(config).identity() == config.identity()


def test_without_a_server_the_config_has_the_default_slots():
    assert embedded_config(_config("embedded")).llm.concurrency == DEFAULT_SLOTS


def test_another_endpoints_model_is_not_embedded():
    assert embedded_model(_config("gpt-4o-mini").llm) is None
    assert not made_with_embedded_llm(_config("gpt-4o-mini").llm)


@pytest.mark.parametrize("argv, message", [
    (["synthesize", "--embedded-model", "qwen-7b"],
     "--embedded-model 'qwen-7b': not a shipped model; allowed: qwen2.5-coder-0.5b, qwen2.5-coder-1.5b"),
    (["pipeline", "--embedded-model", "Qwen2.5-Coder-1.5B"], "--embedded-model 'Qwen2.5-Coder-1.5B': not a shipped"),
    (["synthesize", "--embedded-model", "qwen2.5-coder-1.5b", "--llm-base-url", "http://127.0.0.1:9/v1",
      "--llm-model", "m"], "--embedded-model qwen2.5-coder-1.5b picks the embedded server's model: it goes without"),
])
def test_a_bad_embedded_model_is_one_line_exit_2(argv, message, tmp_path, capsys):
    code = main([*argv, "--store", f"file://{tmp_path}", "--dry-run"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert message in err and len(err.splitlines()) == 1, err
    assert not any(tmp_path.iterdir())  # nothing written
