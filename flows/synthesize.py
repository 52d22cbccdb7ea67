"""The synthesis flow: plan shards and parts → check the LLM → generate every shard → report.

Run it from the CLI (``synthembed synthesize --languages en,es``) or as a deployment; the
logic lives in ``tasks.synth`` and ``tasks.storage``. One Prefect task run per shard (task
type × language); inside it, parts are generated, written and committed one by one, and
admitted whenever the LLM backend would otherwise run short of work.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.progress import Progress
from tasks.secrets import llm_api_key
from tasks.storage.manifest import ShardEntry, ShardStatus
from tasks.storage.store import Store, check_store, open_store
from tasks.synth.backends import open_backend
from tasks.synth.config import SynthesisConfig
from tasks.synth.run import SynthesisRun, SynthesisSummary, prepare_run, shard_table, summarize


class SynthesisIncomplete(RuntimeError):
    """Some shards failed; ``summary`` lists them. The run can be resumed with the same run id."""

    def __init__(self, summary: SynthesisSummary):
        super().__init__(f"{len(summary.shards_failed)} shard(s) failed: {', '.join(summary.shards_failed)}")
        self.summary = summary


@task(name="open-store", retries=2, retry_delay_seconds=[2, 10])
def open_checked_store(url: str) -> Store:
    store = open_store(url)
    check_store(store)
    return store


@task(name="synth-shard", task_run_name="synth-{entry.task_type}-{entry.language}", cache_policy=NO_CACHE)
async def synthesize_shard(run: SynthesisRun, entry: ShardEntry) -> ShardEntry:
    logger = get_run_logger()
    todo = run.manifest.shards[entry.key].unfinished_parts()
    logger.info("shard %s: %d examples in %d part(s) to do", entry.key, sum(p.requested for p in todo), len(todo))
    done = await run.run_shard(entry)  # raises ShardIncomplete: Prefect retries redo only unfinished parts
    logger.info("shard %s: %d rows kept in %d part(s), rejects %s, %d tokens paid, %d answers reused",
                entry.key, done.rows, len(done.parts), done.rejects or "none",
                int(done.usage.get("prompt_tokens", 0) + done.usage.get("completion_tokens", 0)),
                sum(p.reused for p in done.parts))
    return done


@flow(name="synthesize", flow_run_name="synthesize-{config.run_id}", log_prints=True)
async def synthesize(config: SynthesisConfig, only_shards: list[str] | None = None) -> SynthesisSummary:
    """Generate E5-style synthetic training data into ``{store}/runs/{run_id}/``.

    Args:
        config: languages, task types, sizes, seed, store URL, run id and LLM endpoint.
        only_shards: redo only these unfinished shards (keys like ``sts/es``); default all.
    """
    logger, started = get_run_logger(), time.perf_counter()
    store = open_checked_store(config.store)
    manifest = prepare_run(store, config)
    manifest.stopped_reason = None  # a new attempt; set again if the budget stops it
    todo = [e for e in manifest.unfinished() if only_shards is None or e.key in only_shards]
    parts = sum(len(e.unfinished_parts()) for e in todo)
    logger.info("run %s: %d shard(s) planned, %d to do (%d part(s))", config.run_id, len(manifest.shards), len(todo), parts)

    backend = open_backend(config, llm_api_key(), store)
    await backend.preflight()
    progress = Progress(sum(p.requested for e in todo for p in e.unfinished_parts()), "examples", logger)
    run = SynthesisRun(store, manifest, config, backend, on_example=progress.advance)
    shard_task = synthesize_shard.with_options(retries=config.shard_retries, retry_delay_seconds=5)
    in_flight = asyncio.Semaphore(config.shard_concurrency)
    flusher = asyncio.create_task(run.ledger.flush_forever())

    async def one(entry: ShardEntry) -> None:
        try:
            await shard_task(run, entry, return_state=True)  # a failed shard is in the manifest already
        finally:
            in_flight.release()

    async def start_in_order() -> None:
        jobs = []
        for entry in todo:  # a shard task starts when its first part could be admitted
            await run.admission.room()
            await in_flight.acquire()
            if run.stopped:
                in_flight.release()
                break
            jobs.append(asyncio.create_task(one(entry)))
        await asyncio.gather(*jobs)

    try:
        await start_in_order()
    finally:
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        progress.close()
        await backend.close()

    if run.stopped:
        logger.warning("stopped early: %s", manifest.stopped_reason)
    summary = summarize(store, run.manifest, config, started)
    await create_table_artifact(
        key="synthesis-shards", table=shard_table(run.manifest, config),
        description=f"Synthesis run {config.run_id}: {summary.rows} rows, {parts} part(s) attempted")
    if not summary.ok:
        raise SynthesisIncomplete(summary)
    return summary


__all__ = ["synthesize", "SynthesisIncomplete", "ShardStatus"]
