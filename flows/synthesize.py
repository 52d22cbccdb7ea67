"""The synthesis flow: plan shards → check the LLM → generate every shard concurrently → report.

Run it from the CLI (``synthembed synthesize --languages en,es``) or as a deployment; the
logic lives in ``tasks.synth`` and ``tasks.storage``.
"""

from __future__ import annotations

import asyncio
import time

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE

from tasks.progress import Progress
from tasks.storage.manifest import ShardEntry, ShardStatus
from tasks.storage.store import Store, check_store, open_store
from tasks.synth.config import SynthesisConfig
from tasks.secrets import llm_api_key
from tasks.synth.llm import LLMClient
from tasks.synth.run import (
    RunLedger,
    SynthesisSummary,
    budget_reached,
    prepare_run,
    run_shard,
    shard_table,
    summarize,
)


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
async def synthesize_shard(client: LLMClient, store: Store, ledger: RunLedger, entry: ShardEntry, config: SynthesisConfig, progress: Progress) -> ShardEntry:
    logger = get_run_logger()
    logger.info("shard %s: %d examples requested (seed %d)", entry.key, entry.requested, entry.seed)
    done = await run_shard(client, store, ledger, entry, config, on_example=progress.advance)
    logger.info("shard %s: %d rows kept, rejects %s, %d tokens", entry.key, done.rows, done.rejects or "none",
                int(done.usage.get("prompt_tokens", 0) + done.usage.get("completion_tokens", 0)))
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
    logger.info("run %s: %d shard(s) planned, %d to do", config.run_id, len(manifest.shards), len(todo))

    client = LLMClient(config.llm, llm_api_key())
    await client.preflight()
    ledger = RunLedger(store, manifest)
    progress = Progress(sum(e.requested for e in todo), "examples", logger)
    shard_task = synthesize_shard.with_options(retries=config.shard_retries, retry_delay_seconds=5)
    in_flight = asyncio.Semaphore(config.shard_concurrency)

    async def one(entry: ShardEntry) -> None:
        async with in_flight:
            if reason := budget_reached(config, ledger.manifest):
                await ledger.stop(reason)  # in-flight shards finish; this one stays pending
                return
            state = await shard_task(client, store, ledger, entry, config, progress, return_state=True)
        if not state.is_completed():
            await ledger.update(entry.key, status=ShardStatus.FAILED, error=str(state.message or state.name)[:500])

    await asyncio.gather(*(one(entry) for entry in todo))
    progress.close()
    await client.close()

    summary = summarize(store, manifest, config, started)
    await create_table_artifact(
        key="synthesis-shards", table=shard_table(manifest, config), description=f"Synthesis run {config.run_id}: {summary.rows} rows"
    )
    if not summary.ok:
        raise SynthesisIncomplete(summary)
    return summary
