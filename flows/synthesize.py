"""The synthesis flow: check the inputs → open the store → take the run's lease → plan shards
and parts → check the LLM → generate every language → run the filters → report.

Run it from the CLI (``synthembed synthesize --languages en,es``) or as a deployment; the logic
lives in ``tasks.synth``, ``tasks.llm`` and ``tasks.runs``. The whole run holds the run's lease
(:mod:`tasks.storage.lease`: one writer per run; a writer that loses it starts no further
request and saves nothing more). One Prefect task run per language (93 at most, whatever the
run's size); inside it, each shard (task type) is cut into parts that are generated, written and
committed one by one, admitted whenever the LLM backend would otherwise run short of work. Then
the filters (near-duplicates, overlap with evaluation data: :mod:`flows.clean`) mark rows for
readers to leave out; if they fail, the data stays committed and ``synthembed clean`` redoes
them. The ``synthesis-shards`` artifact shows every shard and its parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Iterator

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.cache_policies import NO_CACHE
from prefect.states import Cancelled

from flows.clean import filter_run
from tasks.clean.filters import check_evaluation_sources, llm_filter_report
from tasks.clean.settings import CleanSettings
from tasks.common.progress import Progress
from tasks.common.secrets import llm_api_key
from tasks.llm.backends import open_backend
from tasks.llm.run_llm import RunLLM
from tasks.runs.manifest import Manifest, ShardEntry
from tasks.runs.parts import remove_uncommitted
from tasks.storage.lease import RunLease, holding_lease
from tasks.storage.store import Store, check_store, open_store
from tasks.synth.config import SynthesisConfig
from tasks.synth.run import SynthesisRun, prepare_run, run_languages
from tasks.synth.summary import SynthesisSummary, shard_table, summarize


class SynthesisIncomplete(RuntimeError):
    """Some shards failed; ``summary`` lists them. The run can be resumed with the same run id."""

    def __init__(self, summary: SynthesisSummary):
        super().__init__(f"{len(summary.shards_failed)} shard(s) failed: {', '.join(summary.shards_failed)}")
        self.summary = summary


INTERRUPTED = "interrupted (Ctrl-C)"


class SynthesisInterrupted(SynthesisIncomplete):
    """Ctrl-C stopped the run: every answer received is recorded; the same command resumes it."""

    def __init__(self, summary: SynthesisSummary):
        super().__init__(summary)
        self.args = (f"{INTERRUPTED}: {summary.llm_calls} answer(s) recorded in the run's ledger; run the same "
                     "command again to resume without paying for them again",)


@contextlib.contextmanager
def stop_on_interrupt(run: SynthesisRun, logger) -> Iterator[None]:
    """The first Ctrl-C (SIGINT) stops the run gracefully (:meth:`SynthesisRun.interrupt`: nothing more is
    sent, the requests on the wire are answered and recorded); a second one exits at once.

    Only where Ctrl-C can reach: the main thread's event loop (the CLI); elsewhere this does nothing.
    """
    loop, previous = asyncio.get_running_loop(), signal.getsignal(signal.SIGINT)

    def on_interrupt() -> None:
        if run.interrupted:
            print(f"{INTERRUPTED} again: stopping at once; the requests in flight will be asked again",
                  file=sys.stderr, flush=True)
            os._exit(130)
        logger.warning("%s: sending no further request; the requests in flight are answered and recorded first "
                       "(Ctrl-C again stops at once)", INTERRUPTED)
        run.interrupt(INTERRUPTED)

    try:
        loop.add_signal_handler(signal.SIGINT, on_interrupt)
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread: no Ctrl-C to handle
        previous = None
    try:
        yield
    finally:
        if previous is not None:
            loop.remove_signal_handler(signal.SIGINT)
            signal.signal(signal.SIGINT, previous)  # asyncio.run's own handler, for the rest of the command


@task(name="open-store", retries=2, retry_delay_seconds=[2, 10])
def open_checked_store(url: str) -> Store:
    store = open_store(url)
    check_store(store)
    return store


# log_prints off: building the decontamination index loads mteb datasets, whose fingerprinting
# (dill) disassembles functions with dis.dis into a captured stdout; Prefect's print patch would
# log those ~90 lines of bytecode (RESUME, LOAD_GLOBAL pa, ...) as the task's output.
@task(name="clean", task_run_name="clean-{manifest.run_id}", cache_policy=NO_CACHE, log_prints=False)
async def clean_data(store: Store, manifest: Manifest, settings: CleanSettings, lease: RunLease,
                     llm: RunLLM | None = None) -> Manifest:
    """The filters over every committed row (:func:`flows.clean.filter_run`); one log line per filter, and
    what the LLM filters report (the judge's agreement with the teacher, their spend)."""
    cleaned = await filter_run(store, manifest, settings, lease, llm)
    logger = get_run_logger()
    for name, entry in cleaned.filters.items():
        logger.info("filter %s (%s): %s of %d rows, %.1fs", name, entry.action, entry.counts or "nothing",
                    entry.rows_checked, entry.seconds)
    for line in llm_filter_report(cleaned):
        logger.info(line)
    return cleaned


@task(name="synth-language", task_run_name="synth-{language}", cache_policy=NO_CACHE)
async def synthesize_language(run: SynthesisRun, language: str, shards: list[ShardEntry]) -> list[ShardEntry]:
    """Every shard (task type) of one language, part by part; a Prefect retry redoes only unfinished parts."""
    logger = get_run_logger()
    for entry in shards:
        todo = run.manifest.shards[entry.key].unfinished_parts()
        logger.info("shard %s: %d examples in %d part(s) to do", entry.key, sum(p.requested for p in todo), len(todo))
    try:
        return await run.run_language(shards)
    finally:
        for entry in shards:
            done = run.manifest.shards[entry.key]
            logger.info("shard %s: %s, parts %d/%d, %d rows, rejects %s, %d tokens paid, %d answers reused",
                        done.key, done.status.value, len(done.parts) - len(done.unfinished_parts()), len(done.parts),
                        done.rows, done.rejects or "none",
                        int(done.usage.get("prompt_tokens", 0) + done.usage.get("completion_tokens", 0)),
                        sum(p.reused for p in done.parts))


async def _stop_when_lost(lost: asyncio.Event, run: SynthesisRun, logger) -> None:
    await lost.wait()
    logger.error("the run's lease was broken or taken over: starting no further request")
    run.admission.close()


@flow(name="synthesize", flow_run_name="synthesize-{config.run_id}", log_prints=True)
async def synthesize(config: SynthesisConfig, only_shards: list[str] | None = None,
                     checked: bool = False) -> SynthesisSummary:
    """Generate E5-style synthetic training data into ``{store}/runs/{run_id}/``, then filter it.

    Args:
        config: languages, task types, sizes, seed, store URL, run id, LLM endpoint and filters.
        only_shards: redo only these unfinished shards (keys like ``sts/es``); default all.
        checked: the caller already checked the evaluation sources the filters read (the CLI
            does, before Prefect starts; so does the pipeline): do not check them again.

    Raises SynthesisIncomplete (with the summary) when some shards failed. Ctrl-C stops it
    gracefully: the flow run ends Cancelled, and the call raises SynthesisInterrupted (with the summary).
    """
    logger, started = get_run_logger(), time.perf_counter()
    if not checked:
        check_evaluation_sources(config.clean)  # before any write or spend
    store = open_checked_store(config.store)
    async with holding_lease(store, config.run_id) as lease:  # one writer per run, before any write
        manifest = prepare_run(store, config)
        manifest.stopped_reason = None  # a new attempt; set again if the budget stops it
        if removed := remove_uncommitted(store, manifest):
            logger.warning("removed %d part file(s) written but never committed: %s", len(removed), ", ".join(removed[:5]))
        todo = [e for e in manifest.unfinished() if only_shards is None or e.key in only_shards]
        parts = sum(len(e.unfinished_parts()) for e in todo)
        logger.info("run %s: %d shard(s) planned, %d to do (%d part(s))", config.run_id, len(manifest.shards),
                    len(todo), parts)

        backend = open_backend(config.llm, llm_api_key(), store, config.run_id)
        progress = Progress(sum(p.requested for e in todo for p in e.unfinished_parts()), "examples", logger)
        run = SynthesisRun(store, manifest, config, backend, on_example=progress.advance)
        watch = asyncio.create_task(_stop_when_lost(lease.lost, run, logger))
        language_task = synthesize_language.with_options(retries=config.shard_retries, retry_delay_seconds=5)
        with stop_on_interrupt(run, logger):
            try:  # a failed shard is in the manifest already: its state is returned, not raised
                await backend.preflight()
                if not run.interrupted:
                    await run_languages(run, todo, lambda shards: language_task(run, shards[0].language, shards,
                                                                                return_state=True))
            finally:
                watch.cancel()
                progress.close()
                await backend.close()

            filters_error = None
            if not lease.lost.is_set() and not run.interrupted:  # interrupted: the next run filters
                try:
                    run.writer.manifest = await clean_data(store, run.manifest, config.clean, lease, config.run_llm())
                except Exception as exc:  # the parts are committed: report, and let `synthembed clean` redo it
                    filters_error = f"{type(exc).__name__}: {exc}"
                    logger.error("the filters failed (%s); the data is committed: rerun them with "
                                 "`synthembed clean --run-id %s`", filters_error, config.run_id)

    if run.stopped:
        logger.warning("stopped early: %s", manifest.stopped_reason)
    summary = summarize(store, run.manifest, config, started).model_copy(update={"filters_error": filters_error})
    for key, share in summary.low_yield.items():
        logger.warning("low yield: %s kept %.0f%% of its examples (min_yield %.0f%%)", key, 100 * share, 100 * config.min_yield)
    await create_table_artifact(
        key="synthesis-shards", table=shard_table(run.manifest, config),
        description=f"Synthesis run {config.run_id}: {summary.rows} rows, {parts} part(s) attempted")
    if run.interrupted:  # one line in the flow run's log, no traceback: the user asked for it
        return Cancelled(message=INTERRUPTED, data=SynthesisInterrupted(summary))
    if not summary.ok:
        raise SynthesisIncomplete(summary)
    return summary


__all__ = ["synthesize", "SynthesisIncomplete", "SynthesisInterrupted", "INTERRUPTED"]
