"""What the Prefect UI shows for a run is what a user needs, not library internals.

Given an empty decontamination-index cache (the first run on a machine builds the index from the
offline suite: mteb datasets, whose fingerprinting disassembles functions into a captured stdout),
when a synthesis run ends with its filters, then no line of Python bytecode reaches the run's logs
(it used to: ~90 lines of ``RESUME`` / ``LOAD_GLOBAL pa`` in the clean task's log).
"""

from __future__ import annotations

import asyncio
import os

from tests.support.fake_openai import FakeOpenAI
from tests.support.synthembed_cli import run_cli, synthesize_argv

BYTECODE = ("LOAD_GLOBAL", "RESUME", "RETURN_VALUE", "LOAD_FAST")


def test_building_the_decontamination_index_logs_no_bytecode(prefect_api, tmp_path, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, LogFilter

    from tasks.common.cache import cache_root

    cache = tmp_path / "cache"  # a fresh cache: the index is built in this run, not loaded
    cache.mkdir()
    (cache / "eval").symlink_to(cache_root("eval"))  # the exported Bible texts, made once by `make setup`
    monkeypatch.setenv("SYNTHEMBED_CACHE", str(cache))
    with FakeOpenAI() as server:
        run = run_cli(synthesize_argv(server, f"file://{tmp_path}/store", "--languages", "en", "--task-types", "sts",
                                      "--examples-per-shard", "2", "--run-id", "quiet"), timeout_s=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert list((cache / "decontamination").glob("*.npz")), "the index was not built in this run"

    async def logged() -> list[str]:
        async with get_client() as client:
            [flow_run] = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=["synthesize-quiet"])))
            logs = await client.read_logs(log_filter=LogFilter(flow_run_id={"any_": [flow_run.id]}))
            return [log.message for log in logs]

    messages = asyncio.run(logged())
    assert any("filter" in m for m in messages), messages  # the clean task's own lines are there
    noise = [m for m in messages if any(op in m for op in BYTECODE)]
    assert not noise, noise[:3]
    assert os.environ["SYNTHEMBED_CACHE"] == str(cache)
