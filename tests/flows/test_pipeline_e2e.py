"""The whole pipeline end to end on real parts, small: `synthembed pipeline` against a real
llama.cpp server, Ray Train (SmolLM2-135M + LoRA), mteb, and a real Prefect server.

Given the shared real synthesis run (tests/conftest.py::real_run), when the pipeline runs on it
with the same run id and the embedded server (as `make run`), then synthesis keeps the complete shards, training exports a model, the
evaluation files mteb results for it next to its base and the baselines with a chart and the
passkey curve, and Prefect records the parent flow with its three stages as subflows.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest
from mteb import TaskResult

from tasks.evaluate.suite import OFFLINE_TASKS
from tests.support.synthembed_cli import E2E_LENGTHS

pytestmark = pytest.mark.e2e


def test_pipeline_synthesizes_trains_evaluates_and_is_recorded(real_run, prefect_api, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, FlowRunFilterParentFlowRunId

    store_url, run_id, _ = real_run
    out = f"file://{tmp_path}/pipeline-model"
    command = [str(Path(sys.executable).parent / "synthembed"), "pipeline", "--store", store_url, "--run-id", run_id,
               "--languages", "en,es", "--examples-per-shard", "2", *E2E_LENGTHS,
               # no --llm-base-url: the pipeline starts the embedded server itself, as `make run` does, with the
               # real run's generator settings (its server options are part of the run's identity)
               "--base-model", "smollm2-135m", "--out", out, "--steps", "3", "--train-batch-size", "4",
               "--mini-batch-size", "4", "--warmup-steps", "1", "--cpus-per-worker", "1",
               "--bible-samples", "30", "--bbc-per-label", "5", "--passkey", "--passkey-lengths", "64"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]

    # The trained model's results, in mteb's format, one file per offline task.
    store = Path(store_url.removeprefix("file://"))
    (mine,) = (store / "evals" / "results" / "synthembed__pipeline-model").iterdir()  # one revision: the model's fingerprint
    assert sorted(p.stem for p in mine.glob("*.json") if p.stem != "model_meta") == sorted(OFFLINE_TASKS)
    assert all(0.0 <= TaskResult.from_disk(p).get_score() <= 1.0 for p in mine.glob("Bible*.json"))
    (report,) = list((store / "evals" / "reports").iterdir())
    summary = json.loads((report / "scores.json").read_text())
    assert [r["model"] for r in summary["table"]] == ["pipeline-model", "base-smollm2-135m", "minilm", "e5-small"]
    assert set(summary["passkey"]) == {"pipeline-model", "base-smollm2-135m"}
    assert (report / "scores.png").read_bytes()[:4] == b"\x89PNG" and (report / "passkey.png").is_file()
    assert (tmp_path / "pipeline-model" / "model" / "modules.json").is_file()
    assert "pipeline-model" in result.stdout and "results:" in result.stdout

    async def recorded():
        async with get_client() as client:
            (parent,) = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[f"pipeline-{run_id}"])))
            children = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id])))
            flows = {child.id: (await client.read_flow(child.flow_id)).name for child in children}
            artifacts = {a.key for a in await client.read_artifacts() if a.flow_run_id == parent.id}
            return parent, children, flows, artifacts

    parent, children, flows, artifacts = asyncio.run(recorded())
    assert parent.state.type.value == "COMPLETED"
    assert sorted(flows.values()) == ["evaluate", "synthesize", "train"]
    assert all(child.state.type.value == "COMPLETED" for child in children)
    assert "pipeline-summary" in artifacts
