"""Admission: a part that ends, however it ends, gives back the room it was admitted with.

Regression: a part whose store failed under it (its ledger could not be listed while SeaweedFS
restarted) used to keep its admitted requests counted as ready forever; once such leaks filled
the target, every later part waited for room that never came and the run hung.
"""

from __future__ import annotations

import asyncio

import pytest

from tasks.llm.admission import Admission
from tasks.llm.backends import open_backend
from tasks.storage.store import open_store
from tasks.synth.config import SynthesisConfig
from tasks.synth.run import ShardIncomplete, SynthesisRun, prepare_run
from tests.support.fake_openai import FakeOpenAI


def test_a_released_ticket_gives_back_only_what_its_part_did_not_finish():
    async def go():
        gate = Admission(target=4)
        first, second = await gate.admit(3), await gate.admit(1)
        first.done(2)
        first.add(5)  # its generations, after the brainstorm
        assert gate.ready == 1 + 1 + 5
        first.release()
        first.release()  # twice is harmless
        assert gate.ready == 1
        second.done(9)  # never more than it holds
        assert gate.ready == 0 and second.outstanding == 0
    asyncio.run(go())


def test_a_closed_admission_admits_nothing():
    async def go():
        gate = Admission(target=1)
        gate.close()
        return await gate.admit(1)
    assert asyncio.run(go()) is None


def test_parts_that_failed_before_sending_do_not_stall_the_retry(tmp_path, monkeypatch):
    store = open_store(f"file://{tmp_path}")
    with FakeOpenAI() as server:
        config = SynthesisConfig(languages="en", task_types="sts", examples_per_shard=16, part_size=4, run_id="r1",
                                 store=f"file://{tmp_path}", llm={"base_url": server.base_url, "model": server.model,
                                                                  "concurrency": 1})

        async def go():
            manifest = prepare_run(store, config)
            backend = open_backend(config.llm, None, store, config.run_id)
            run = SynthesisRun(store, manifest, config, backend)
            opened = run.ledger.open_part

            def store_down(key):
                raise ConnectionError("Could not connect to the endpoint URL")

            monkeypatch.setattr(run.ledger, "open_part", store_down)
            with pytest.raises(ShardIncomplete):  # all 4 parts fail before sending (16 admitted, target 2)
                await asyncio.wait_for(run.run_shard(run.manifest.shards["sts/en"]), 30)
            assert run.admission.ready == 0
            monkeypatch.setattr(run.ledger, "open_part", opened)  # the store is back
            done = await asyncio.wait_for(run.run_shard(run.manifest.shards["sts/en"]), 60)  # hung before the fix
            await backend.close()
            return done

        entry = asyncio.run(go())
    assert entry.rows == 16 and all(p.path for p in entry.parts)
