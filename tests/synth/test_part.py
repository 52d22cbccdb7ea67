"""One part against the scripted server: failures stay inside the part, every answer is recorded."""

from __future__ import annotations

import asyncio

from tasks.llm.budget import Budget
from tasks.llm.caller import LLMCaller
from tasks.llm.client import LLMClient, LLMSettings
from tasks.llm.ledger import RequestLedger
from tasks.runs.schema import TaskType
from tasks.storage.store import open_store
from tasks.synth.part import PartSpec, generate_part
from tests.support.fake_openai import FakeOpenAI


def _run_part(server: FakeOpenAI, tmp_path, task_type: TaskType, count: int, budget: Budget | None = None):
    async def go():
        client = LLMClient(LLMSettings(base_url=server.base_url, model=server.model, max_retries=0, concurrency=4))
        ledger = RequestLedger(open_store(f"file://{tmp_path}"), "r1")
        part = ledger.open_part(f"{task_type.value}/en/0")
        try:
            result = await generate_part(LLMCaller(client, part, budget or Budget()), task_type, "en",
                                         PartSpec(0, seed=11, count=count))
        finally:
            ledger.close_part(part)
            await client.close()
        return result, part
    return asyncio.run(go())


def test_a_failed_brainstorm_call_lets_the_others_finish_and_be_recorded(tmp_path):
    # 60 examples -> 3 brainstorm calls; the second fails for good, the others answer slowly
    with FakeOpenAI(policy=lambda n, p: "500" if n == 1 else "ok", latency_s=0.3) as server:
        result, ledger = _run_part(server, tmp_path, TaskType.RETRIEVAL, 60)
    assert result.failures and "brainstorm" in result.failures[0] and not result.rows
    assert len(ledger.records) == 2  # the two answered brainstorms are kept for the retry


def test_one_bad_example_does_not_cancel_the_rest(tmp_path):
    with FakeOpenAI(policy=lambda n, p: "500" if n == 2 else "ok") as server:
        result, ledger = _run_part(server, tmp_path, TaskType.STS, 6)
    assert len(result.failures) == 1 and len(result.rows) == 5 and len(ledger.records) == 5


def test_a_budget_stop_leaves_the_part_pending_with_what_it_paid(tmp_path):
    with FakeOpenAI() as server:
        result, ledger = _run_part(server, tmp_path, TaskType.STS, 6, Budget(limit_tokens=1500))
    assert result.stopped and "token budget" in result.stopped and not result.failures
    assert 0 < len(ledger.records) < 6
    assert sum(r["prompt_tokens"] + r["completion_tokens"] for r in ledger.records.values()) <= 1500


def test_a_manifest_save_cancelled_mid_write_never_lands_after_a_newer_one(tmp_path):
    import threading
    import time

    from tasks.runs.manifest import Manifest, PartEntry, ShardEntry, load_manifest
    from tasks.synth.run import ManifestWriter

    store = open_store(f"file://{tmp_path}")
    slow, landed, write_json = threading.Event(), threading.Event(), store.write_json

    def slow_write(path, data):  # the first write hangs, as through a store outage
        if not slow.is_set():
            slow.set()
            time.sleep(0.5)
            write_json(path, data)
            landed.set()
            return
        write_json(path, data)

    store.write_json = slow_write
    manifest = Manifest(run_id="r1", shards={"sts/en": ShardEntry(task_type="sts", language="en", seed=1, requested=1,
                                                                  parts=[PartEntry(index=0, seed=2, requested=1)])})

    async def go():
        writer = ManifestWriter(store, manifest, every_s=0.01)
        writer.update_part("sts/en", 0, attempts=1)
        saver = asyncio.create_task(writer.save_forever())
        while not slow.is_set():
            await asyncio.sleep(0.005)
        writer.update_part("sts/en", 0, attempts=2)  # newer, while the old version is being written
        saver.cancel()
        try:
            await saver
        except asyncio.CancelledError:
            pass
        await writer.save()

    asyncio.run(go())
    assert landed.wait(timeout=60)  # the old write has landed, whenever its thread got to it ...
    assert load_manifest(store, "r1").shards["sts/en"].parts[0].attempts == 2  # ... and the newer one after it
