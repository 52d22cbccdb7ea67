"""`synthembed evaluate`: benchmarks by name, the dry run, bad input in one line, and a failing unit.

The dry run and the bad-input cases run the CLI in this process with the network refused; the
failing unit runs the installed console script under a real Prefect server.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from flows.cli import main
from tasks.evaluate.suite import OFFLINE_TASKS
from tests.support.offline import no_network

SYNTHEMBED = str(Path(sys.executable).parent / "synthembed")


def test_dry_run_of_mteb_eng_v2_lists_41_tasks_with_sizes_offline(capsys, tmp_path):
    with no_network():
        code = main(["evaluate", "--model", "minilm", "--benchmark", "MTEB(eng, v2)", "--dry-run", "--device", "cuda",
                     "--store", f"file://{tmp_path}"])
    out = capsys.readouterr().out
    assert code == 0, out
    rows = [line.split() for line in out.splitlines() if line.startswith("minilm ")]
    assert len(rows) == 41 + 1  # the tasks and the total
    arguana = next(r for r in rows if r[1] == "ArguAna")
    assert arguana[2:5] == ["Retrieval", "10080", "10607229"]  # mteb's statistics: samples, characters
    assert rows[-1][1:4] == ["total", "(41", "tasks)"]
    assert "minilm on cuda: no measured throughput" in out  # says so rather than invent a figure
    assert not (tmp_path / "evals").exists()


def test_dry_run_estimates_the_offline_suite_from_measured_throughput(capsys):
    with no_network():
        assert main(["evaluate", "--model", "minilm", "--dry-run", "--device", "cpu", "--bible-samples", "100"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[1] for line in out.splitlines() if line.startswith("minilm ")][:6] == list(OFFLINE_TASKS)
    assert "14,867 characters/s" in out and "BENCHMARKS.md" in out


@pytest.mark.parametrize("args, message", [
    (["--benchmark", "MTEB(nowhere)"], "--benchmark 'MTEB(nowhere)': no such benchmark"),
    (["--benchmark", "NanoBEIR"], "--benchmark 'NanoBEIR': standard MTEB tasks download their data"),
    (["--benchmark", "NanoBEIR", "--tasks", "STS12"], "--tasks STS12: not in NanoBEIR"),
    (["--device", "tpu"], "--device 'tpu': use auto, cpu, cuda or cuda:N"),
    (["--device", "cuda:9"], "--device cuda:9: not on this machine"),
    (["--use-gpu"], "--use-gpu puts each Ray worker on a GPU: give --num-workers too"),
    (["--use-gpu", "--num-workers", "2"], "--use-gpu: a local Ray cluster here would have no GPU"),
    (["--batch-tokens", "100"], "--batch-tokens 100: must be at least --max-length"),
])
def test_bad_input_is_one_line_and_exit_2_before_any_model_loads(args, message, capsys, tmp_path):
    with no_network():
        code = main(["evaluate", "--model", "minilm", *args, "--store", f"file://{tmp_path}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and message in err and "\n" not in err, err
    assert not (tmp_path / "evals").exists()


def test_a_failing_unit_fails_alone_exit_1_with_the_retry_command(prefect_api, tmp_path):
    from prefect.client.orchestration import get_client

    # Given a model folder that passes the checks but cannot load, beside the random baseline,
    broken = tmp_path / "broken" / "model"
    broken.mkdir(parents=True)
    (broken / "modules.json").write_text("not json")
    command = ["evaluate", "--model", f"random,{broken}", "--tasks", "LeeDocumentSimilarity,BibleRetrievalEnEs",
               "--bible-samples", "30", "--store", f"file://{tmp_path / 'store'}"]
    result = subprocess.run([SYNTHEMBED, *command], capture_output=True, text=True, timeout=600)
    # then random's units are filed, the broken model's fail, and the command that redoes them is printed.
    assert result.returncode == 1, (result.stdout + result.stderr)[-3000:]
    filed = tmp_path / "store" / "evals" / "results" / "synthembed__random-baseline" / "1"
    assert sorted(p.stem for p in filed.glob("*.json")) == ["BibleRetrievalEnEs", "LeeDocumentSimilarity", "model_meta"]
    assert "2 unit(s) failed" in result.stderr
    retry = f"synthembed evaluate --model random,{broken} --bible-samples 30 --store file://{tmp_path / 'store'} " \
            "--tasks LeeDocumentSimilarity,BibleRetrievalEnEs"
    assert retry in result.stderr
    # The report carries the benchmark's aggregate for the complete model only (mteb's leaderboard leaves a
    # model with missing tasks blank).
    (report,) = (tmp_path / "store" / "evals" / "reports").iterdir()
    summary = json.loads((report / "scores.json").read_text())
    random_row, broken_row = summary["aggregate"]
    lee, bible = summary["table"][0]["LeeDocumentSimilarity"], summary["table"][0]["BibleRetrievalEnEs"]
    assert random_row["STS"] == lee and random_row["Retrieval"] == bible
    assert random_row["mean (task)"] == pytest.approx((lee + bible) / 2, abs=1e-4)
    assert broken_row["mean (task)"] is None and broken_row["STS"] is None

    async def units_artifact():
        async with get_client() as client:
            return [a for a in await client.read_artifacts() if a.key == "evaluation-units"]

    # And the Prefect UI's unit table went from all pending to each unit's final state.
    versions = [{(row["model"], row["task"]): row["state"] for row in json.loads(a.data)}
                for a in asyncio.run(units_artifact())]
    assert {("random", "LeeDocumentSimilarity"): "pending", ("random", "BibleRetrievalEnEs"): "pending",
            ("broken", "LeeDocumentSimilarity"): "pending", ("broken", "BibleRetrievalEnEs"): "pending"} in versions
    assert {("random", "LeeDocumentSimilarity"): "done", ("random", "BibleRetrievalEnEs"): "done",
            ("broken", "LeeDocumentSimilarity"): "failed", ("broken", "BibleRetrievalEnEs"): "failed"} in versions
