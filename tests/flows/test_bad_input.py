"""Bad input everywhere, one table: exit code 2, one message naming the value and what is allowed,
before any LLM request, Prefect flow or Ray start, and nothing stored changes.

Each row is (command line after ``synthembed``, a fragment the one error line must contain).
``{llm}`` stands for a working scripted OpenAI-compatible server, ``{store}`` for a store that
already holds a complete run ``done``.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
from pathlib import Path

import pytest

from flows.cli import main
from tests.support.fake_openai import FakeOpenAI

SYNTH = ["synthesize", "--store", "{store}", "--llm-base-url", "{llm}", "--llm-model", "fake-model"]
CASES = [
    (SYNTH + ["--examples-per-shard", "0"], "--examples-per-shard 0: Input should be greater than or equal to 1"),
    (SYNTH + ["--examples-per-shard", "-3"], "--examples-per-shard -3: Input should be greater than or equal to 1"),
    (SYNTH + ["--total-examples", "-5"], "--total-examples -5: Input should be greater than or equal to 1"),
    (SYNTH + ["--concurrency", "0"], "--concurrency 0: Input should be greater than or equal to 1"),
    (SYNTH + ["--shard-concurrency", "0"], "--shard-concurrency 0: Input should be greater than or equal to 1"),
    (SYNTH + ["--shard-retries", "-1"], "--shard-retries -1: Input should be greater than or equal to 0"),
    (SYNTH + ["--part-size", "0"], "--part-size 0: Input should be greater than or equal to 1"),
    (SYNTH + ["--max-tokens", "5"], "--max-tokens 5: Input should be greater than or equal to 16"),
    (SYNTH + ["--min-length-ratio", "0"], "--min-length-ratio 0.0: Input should be greater than 0"),
    (SYNTH + ["--max-length-ratio", "0.5"], "--max-length-ratio 0.5: Input should be greater than or equal to 1"),
    (SYNTH + ["--long-min-words", "0"], "--long-min-words 0: Input should be greater than or equal to 1"),
    (SYNTH + ["--min-yield", "1.5"], "--min-yield 1.5: Input should be less than or equal to 1"),
    (SYNTH + ["--max-tries-per-example", "0"], "--max-tries-per-example 0: Input should be greater than or equal to 1"),
    (SYNTH + ["--query-threshold", "1.5"], "--query-threshold 1.5: Input should be less than or equal to 1"),
    (SYNTH + ["--eval-texts", "/no/such/eval.txt"], "evaluation texts '/no/such/eval.txt' (--eval-texts) is not a readable file"),
    (SYNTH + ["--timeout", "0"], "--timeout 0.0: Input should be greater than 0"),
    (SYNTH + ["--max-retries", "-1"], "--max-retries -1: Input should be greater than or equal to 0"),
    (SYNTH + ["--budget-tokens", "0"], "--budget-tokens 0: Input should be greater than or equal to 1"),
    (SYNTH + ["--budget-usd", "-1"], "--budget-usd -1.0: Input should be greater than 0"),
    (SYNTH + ["--budget-usd", "0.0001"], "--budget-usd 0.0001 needs the model's prices"),  # was: $0 a request, 89 calls
    (SYNTH + ["--price-input", "-0.1"], "--price-input -0.1: Input should be greater than or equal to 0"),
    (SYNTH + ["--rpm", "0"], "--rpm 0.0: Input should be greater than 0"),
    (SYNTH + ["--tpm", "-5"], "--tpm -5.0: Input should be greater than 0"),
    (SYNTH + ["--batch-poll", "0"], "--batch-poll 0.0: Input should be greater than 0"),
    (SYNTH + ["--languages", "en,klingon"], "unknown language code(s): klingon"),
    (SYNTH + ["--task-types", "reranking"], "unknown task type(s): reranking"),
    (SYNTH + ["--language-weights", "en=-1"], "language weight 'en=-1' is negative"),
    (SYNTH + ["--total-examples", "10", "--languages", "es", "--language-weights", "es=0"], "all have weight 0"),
    (SYNTH + ["--run-id", "../escape"], "--run-id '../escape': String should match pattern"),
    (SYNTH + ["--run-id", "/etc"], "--run-id '/etc'"),
    (SYNTH + ["--run-id", "%2e%2e"], "--run-id '%2e%2e'"),
    (SYNTH + ["--run-id", "ｒｕｎ／x"], "--run-id 'ｒｕｎ／x'"),
    (["synthesize", "--store", "ftp://host/x", "--llm-base-url", "{llm}", "--llm-model", "fake-model"],
     "unsupported scheme 'ftp'"),
    (["synthesize", "--store", "s3://", "--llm-base-url", "{llm}", "--llm-model", "fake-model"], "names no bucket"),
    (["synthesize", "--store", "{store}", "--llm-base-url", "{llm}"], "--llm-base-url and --llm-model go together"),
    (["synthesize", "--store", "{store}", "--llm-base-url", "{not_openai}", "--llm-model", "m"], "answered 404 to /models"),
    (["synthesize", "--store", "{store}", "--llm-base-url", "{llm}", "--llm-model", "gpt-9"], "model 'gpt-9' is not served"),
    (SYNTH + ["--run-id", "done", "--seed", "7"], "seed: was 0, now 7"),
    (SYNTH + ["--run-id", "done", "--max-tokens", "999"], "generator.max_tokens: was 8192, now 999"),
    (["synthesize", "--store", "{store}", "--llm-base-url", "{llm}", "--llm-model", "other-model", "--run-id", "done"],
     "model 'other-model' is not served"),
    (SYNTH + ["--examples-per-shard", "3", "--total-examples", "6"],
     "--examples-per-shard 3 and --total-examples 6 exclude"),
    (SYNTH + ["--languages", "en,es", "--language-weights", "en=1,es=2"],
     "--language-weights 'en=1,es=2' needs --total-examples"),
    (SYNTH + ["--run-id", "done", "--seed", "7", "--dry-run"], "seed: was 0, now 7"),
    (SYNTH + ["--run-id", "done", "--task-types", "sts,bitext", "--dry-run"],
     "task_types: was ['sts'], now ['sts', 'bitext']"),
    (SYNTH + ["--llm-mode", "batch", "--llm-base-url", "{no_batch}"], "has no Batch API (/batches answered 404)"),
    (["retry", "--store", "{store}", "--run-id", "../done"], "run id '../done' is not allowed"),
    (["retry", "--store", "{store}", "--run-id", "missing"], "no synthesis run 'missing'"),
    (["retry", "--store", "{store}", "--run-id", "done", "--languages", "xx"],
     "--languages 'xx': unknown language code(s): xx"),
    (["retry", "--store", "{store}", "--run-id", "done", "--languages", ""], "--languages '': no language given"),
    (["retry", "--store", "{store}", "--run-id", "done", "--languages", "es"],
     "--languages es: run 'done' has no such language; its languages: en"),
    (["retry", "--store", "{store}", "--run-id", "done", "--budget-tokens", "-5"],
     "--budget-tokens -5: Input should be greater than or equal to 1"),
    (["retry", "--store", "{store}", "--run-id", "done", "--budget-usd", "0"],
     "--budget-usd 0.0: Input should be greater than 0"),
    (["retry", "--store", "{store}", "--run-id", "done", "--budget-usd", "5"],
     "--budget-usd 5.0 needs the model's prices"),
    (["unlock", "--store", "{store}", "--run-id", "missing"], "no synthesis run 'missing'"),
    (["status", "--store", "{store}", "--run-id", "a/b"], "run id 'a/b' is not allowed"),
    (["status", "--store", "ftp://x/y", "--run-id", "done"], "unsupported scheme 'ftp'"),
    (["unlock", "--store", "{store}", "--run-id", ".."], "is not allowed"),
    (["pipeline", "--store", "{store}", "--llm-base-url", "{llm}", "--llm-model", "fake-model", "--steps", "0"], "steps"),
    (["pipeline", "--store", "{store}", "--llm-base-url", "{llm}", "--llm-model", "fake-model",
      "--train-batch-size", "1"], "batch_size must be at least 2"),
]


def _snapshot(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()}


class NoBatchAPI(FakeOpenAI):
    """An OpenAI-compatible server without the Batch API (vLLM's and llama.cpp's online servers)."""

    def _batch_routes(self):
        return []


class NotOpenAI(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def setting(tmp_path_factory, prefect_api):
    store = tmp_path_factory.mktemp("bad-input-store")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotOpenAI)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with FakeOpenAI() as llm, NoBatchAPI() as no_batch:
        assert main(["synthesize", "--store", f"file://{store}", "--llm-base-url", llm.base_url, "--llm-model",
                     llm.model, "--run-id", "done", "--task-types", "sts", "--examples-per-shard", "2"]) == 0
        yield {"store": f"file://{store}", "llm": llm.base_url, "not_openai": f"http://127.0.0.1:{server.server_address[1]}/v1",
               "server": llm, "root": store, "no_batch": no_batch.base_url}
        assert not no_batch.requests and not no_batch.files  # refused before any request or upload
    server.shutdown()


@pytest.mark.parametrize("argv, message", CASES, ids=[" ".join(a[:1] + a[7:] if a[:1] == ["synthesize"] else a) for a, _ in CASES])
def test_bad_input_is_one_clear_error_before_any_spend_and_nothing_changes(argv, message, setting, capsys):
    before, asked = _snapshot(setting["root"]), len(setting["server"].requests)
    argv = [part.format(**setting) for part in argv]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert message in err, err
    assert len(err.splitlines()) == 1, f"more than one line:\n{err}"
    assert len(setting["server"].requests) == asked  # no LLM request
    assert _snapshot(setting["root"]) == before  # nothing stored changed


def test_a_malformed_config_file_is_one_error(tmp_path, monkeypatch, capsys):
    config = tmp_path / "synthembed.toml"
    config.write_text('store = "file:///x"\nllm_model = [unterminated\n')
    monkeypatch.setenv("SYNTHEMBED_CONFIG", str(config))
    assert main(["status", "--run-id", "r1"]) == 2
    err = capsys.readouterr().err.strip()
    assert "settings" in err and "synthembed.toml" in err and len(err.splitlines()) == 1


def test_argument_types_are_checked_by_the_parser(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["synthesize", "--seed", "abc"])
    assert exit_.value.code == 2 and "invalid int value: 'abc'" in capsys.readouterr().err
