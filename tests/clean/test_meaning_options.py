"""The meaning, mining and judge flags: a bad value is one error line and exit 2, before anything is read,
written or asked."""

from __future__ import annotations

import pytest

from flows.cli import main
from tests.support.runs import row, write_run


@pytest.fixture
def store_url(tmp_path):
    url = f"file://{tmp_path}/store"
    write_run(url, "r1", [row(1), row(2)])
    return url


@pytest.mark.parametrize("flags, message", [
    (["--meaning", "bogus"], "--meaning 'bogus': Input should be 'drop', 'mark' or 'off'"),
    (["--teacher", "e5-large"], "--teacher 'e5-large': teacher 'e5-large' is not one of: e5-small, st:NAME_OR_PATH"),
    (["--teacher", "http://127.0.0.1:9/v1"], "names no model: add it after '#'"),
    (["--teacher", "st:/no/such/model"], "no sentence-transformers model folder '/no/such/model'"),
    (["--mine-negatives", "-1"], "--mine-negatives -1: Input should be greater than or equal to 0"),
    (["--negative-score-ratio", "1.5"], "--negative-score-ratio 1.5: Input should be less than or equal to 1"),
    (["--meaning-top-k", "0"], "--meaning-top-k 0: Input should be greater than or equal to 1"),
    (["--judge-threshold", "0"], "--judge-threshold 0.0: Input should be greater than or equal to 1"),
    (["--judge", "--judge-threshold", "5.5"], "--judge-threshold 5.5: Input should be less than or equal to 5"),
    (["--judge", "bogus"], "--judge 'bogus': Input should be 'drop', 'mark' or 'off'"),
    (["--judge"], "ask the run's LLM, and run 'r1' stored none: give --llm-base-url and --llm-model"),
    (["--judge", "--llm-base-url", "http://127.0.0.1:9/v1"], "--llm-base-url and --llm-model go together"),
    (["--judge", "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "m"], "cannot reach the LLM server"),
    (["--judge", "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "m", "--budget-tokens", "0"],
     "--budget-tokens 0: Input should be greater than or equal to 1"),
], ids=lambda v: " ".join(v) if isinstance(v, list) else None)
def test_a_bad_meaning_or_mining_flag_is_one_line_and_exit_2(store_url, tmp_path, flags, message, capsys):
    manifest = (tmp_path / "store/runs/r1/manifest.json").read_bytes()
    assert main(["clean", "--run-id", "r1", "--store", store_url, *flags]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0], err
    assert (tmp_path / "store/runs/r1/manifest.json").read_bytes() == manifest  # nothing changed
    assert not (tmp_path / "store/runs/r1/filters").exists() and not (tmp_path / "store/runs/r1/embeddings").exists()
    assert not (tmp_path / "store/runs/r1/ledger").exists()


@pytest.mark.parametrize("command", ["synthesize", "pipeline"])
def test_synthesize_and_the_pipeline_refuse_a_bad_judge_threshold_before_any_call(command, tmp_path, capsys):
    argv = [command, "--store", f"file://{tmp_path}/store", "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model",
            "m", "--judge", "--judge-threshold", "9"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --judge-threshold 9.0: Input should be less than or equal to 5"]
    assert not (tmp_path / "store").exists()
