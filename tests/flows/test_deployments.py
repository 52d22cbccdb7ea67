"""prefect.yaml deployments on a real Prefect server: deploy, run through a process worker,
and check what the API recorded."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.fake_openai import FakeOpenAI

ROOT = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")


def _prefect(*args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    result = subprocess.run([PREFECT, "--no-prompt", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    return result


@pytest.fixture(scope="module")
def deployed(prefect_api):
    """Every deployment of prefect.yaml registered against the session's server."""
    _prefect("work-pool", "create", "local-process", "--type", "process", "--overwrite")
    _prefect("deploy", "--all")
    return prefect_api


async def _read(name: str):
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        return await client.read_deployment_by_name(name)


def test_every_deployment_is_registered_with_its_schedule_disabled(deployed):
    synth = asyncio.run(_read("synthesize/synthesize"))
    assert synth.work_pool_name == "local-process" and "synthesis" in synth.tags
    assert [s.schedule.cron for s in synth.schedules] == ["0 2 * * *"]
    assert all(not s.active for s in synth.schedules)
    assert synth.parameter_openapi_schema["properties"]["config"]  # typed parameters → UI form
    retry = asyncio.run(_read("retry/retry"))
    assert retry.entrypoint == "flows/retry.py:retry"
    train = asyncio.run(_read("train/train"))
    assert train.parameters["config"]["base_model"] == "embedded-qwen"
    assert "config" in train.parameter_openapi_schema["properties"]
    evaluate = asyncio.run(_read("evaluate/evaluate"))
    assert evaluate.entrypoint == "flows/evaluate.py:evaluate" and evaluate.parameters["config"]["baselines"] is True
    pipeline = asyncio.run(_read("pipeline/pipeline"))
    assert pipeline.entrypoint == "flows/pipeline.py:pipeline" and "pipeline" in pipeline.tags
    assert {"synthesis", "training", "evaluation", "embedded_llm"} <= set(pipeline.parameter_openapi_schema["properties"])
    for deployment in (evaluate, pipeline):
        assert len(deployment.schedules) == 1 and not deployment.schedules[0].active


def test_a_deployment_run_through_a_process_worker_records_one_task_run_per_language(deployed, tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter
    from prefect.deployments import run_deployment

    with FakeOpenAI() as server:
        config = {"languages": ["en", "es"], "task_types": ["sts", "short_short"], "examples_per_shard": 2,
                  "store": f"file://{tmp_path}", "run_id": "deployed", "llm": {"base_url": server.base_url, "model": server.model}}
        run = run_deployment("synthesize/synthesize", parameters={"config": config}, timeout=0)
        log = open(tmp_path / "worker.log", "wb")
        worker = subprocess.Popen([PREFECT, "worker", "start", "--pool", "local-process", "--limit", "1"], cwd=ROOT,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            async def wait():
                async with get_client() as client:
                    deadline = time.monotonic() + 480  # a busy machine: the run loads the meaning teacher too
                    while time.monotonic() < deadline:
                        flow_run = await client.read_flow_run(run.id)
                        if flow_run.state.is_final():
                            break
                        await asyncio.sleep(1)
                    else:
                        raise TimeoutError("the deployment run did not finish in 480 s")
                    # Task runs reach the API as events, after the flow run's own final state: on a busy
                    # machine the read right after it can miss them, so wait (bounded) for both languages.
                    deadline = time.monotonic() + 60
                    while True:
                        tasks = await client.read_task_runs(flow_run_filter=FlowRunFilter(id={"any_": [run.id]}))
                        synth = [t for t in tasks if t.name.startswith("synth-") and t.state and t.state.is_final()]
                        if len(synth) >= 2 or time.monotonic() > deadline:
                            return flow_run, tasks
                        await asyncio.sleep(1)

            flow_run, tasks = asyncio.run(wait())
        finally:
            os.killpg(worker.pid, 15)
            try:
                worker.wait(30)
            except subprocess.TimeoutExpired:  # a worker slow to stop (busy machine) is not what this test checks
                os.killpg(worker.pid, 9)
                worker.wait(30)
            log.close()
    worker_log = (tmp_path / "worker.log").read_text(errors="replace")
    assert flow_run.state.type.value == "COMPLETED", f"{flow_run.state.message}\n{worker_log[-3000:]}"
    names = sorted(t.name for t in tasks if t.name.startswith("synth-"))
    assert names == ["synth-en", "synth-es"]  # one task run per language
    assert len(list((tmp_path / "runs/deployed/data").rglob("*.parquet"))) == 4  # one part per shard
    # the run's filters (near-duplicates, contamination, meaning) and its mined negatives
    assert len(list((tmp_path / "runs/deployed/filters").glob("*.parquet"))) == 4
