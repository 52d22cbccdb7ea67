"""A synthesis run's bookkeeping, without Prefect: plan or resume, run shards part by part, commit, report.

The flow (``flows/synthesize.py``) calls these in order; tests call them directly.

Example::

    store = open_store("file://./data")
    manifest = prepare_run(store, config)            # plan, or resume a run of the same id
    run = SynthesisRun(store, manifest, config, LLMClient(config.llm))
    await run.run_shard(manifest.shards["sts/en"])   # every unfinished part, committed one by one
    await run_languages(run, manifest.unfinished())  # or everything, language by language
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from tasks.language.languages import default_weights
from tasks.llm.admission import Admission, AdmissionTicket
from tasks.llm.budget import Budget
from tasks.llm.caller import LLMCaller
from tasks.llm.ledger import RequestLedger
from tasks.runs.manifest import (
    Manifest,
    PartEntry,
    ShardEntry,
    ShardStatus,
    check_same_run,
    load_manifest,
    manifest_path,
    save_manifest,
    utc_now,
)
from tasks.runs.parts import committed_ids, write_part
from tasks.runs.schema import TaskType
from tasks.storage.store import Store
from tasks.synth.config import SynthesisConfig, plan_shards
from tasks.synth.part import PartResult, PartSpec, generate_part, ready_at_start

log = logging.getLogger(__name__)
# No flag brings old prompt templates back: a run made by another synthembed version cannot resume.
RESUME_ADVICE = {"generator.templates": "The prompt templates differ: the run was made by another synthembed version; "
                                        "choose a new --run-id."}
READY_PER_SLOT = 2  # parts are admitted while fewer than 2 × concurrency requests are ready to send


def check_resumable(store: Store, config: SynthesisConfig) -> Manifest | None:
    """The manifest of run ``config.run_id`` if it exists (ParameterMismatch unless ``config`` is the same
    run: the CLI checks this before Prefect starts, the dry run too); None for a new run."""
    manifest = load_manifest(store, config.run_id)
    if manifest is not None:
        check_same_run(manifest, config.identity(), RESUME_ADVICE)
    return manifest


def prepare_run(store: Store, config: SynthesisConfig) -> Manifest:
    """Load the run's manifest (checking it is the same run) or plan a new one and save it.

    Saving the plan first means every planned shard and part is listed, as pending, before any LLM call.
    """
    if (manifest := check_resumable(store, config)) is not None:
        return manifest
    manifest = Manifest(run_id=config.run_id, parameters=config.identity())
    manifest.parameters["model"] = config.llm.model
    manifest.config = config.model_dump(mode="json")
    manifest.shards = {entry.key: entry for entry in plan_shards(config)}
    save_manifest(store, manifest)
    return manifest


class ManifestWriter:
    """Applies part updates from concurrent parts and saves the manifest at most every ``every_s``.

    Saving the whole manifest for every part would cost more than the parts themselves on a
    558-shard run, and deferring is safe: a part whose commit was not saved yet when the
    process died is redone from the request ledger, without paying again.
    """

    def __init__(self, store: Store, manifest: Manifest, every_s: float = 1.0):
        self.store, self.manifest, self.every_s = store, manifest, every_s
        self._dirty = False
        self._lock = asyncio.Lock()

    def update_part(self, shard: str, index: int, **changes) -> PartEntry:
        entry = self.manifest.shards[shard]
        part = entry.parts[index].model_copy(update={**changes, "updated_at": utc_now()})
        self.manifest.shards[shard] = entry.with_part(part)
        self._dirty = True
        return part

    def stop(self, reason: str) -> None:
        """Record why the run stopped starting requests."""
        if self.manifest.stopped_reason != reason:
            self.manifest.stopped_reason = reason
            self._dirty = True

    async def save(self) -> None:
        async with self._lock:
            if self._dirty:
                self._dirty = False
                self.manifest.updated_at = utc_now()
                data = self.manifest.model_dump(mode="json")  # here: parts go on changing while it is written
                write = asyncio.ensure_future(
                    asyncio.to_thread(self.store.write_json, manifest_path(self.store, self.manifest.run_id), data))
                try:
                    await asyncio.shield(write)
                except asyncio.CancelledError:
                    # a thread cannot be stopped: let this older version land before anyone writes a newer one
                    await write
                    raise

    async def save_forever(self) -> None:
        """Background task: save the manifest when it changed, at most every ``every_s``."""
        while True:
            await asyncio.sleep(self.every_s)
            try:
                await self.save()
            except Exception as exc:  # the store is down: keep the changes, save them next round
                self._dirty = True
                log.warning("saving the manifest failed (%s); retrying", exc)


def spend(manifest: Manifest) -> tuple[int, int]:
    """(prompt, completion) tokens paid by the run so far, over all parts (each answer once)."""
    usage = manifest.usage()
    return int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))


def pair_weights(config: SynthesisConfig) -> dict[str, float]:
    """Where the other side of a bitext pair is drawn from: the selected languages, or all 93."""
    weights = config.weights()
    return weights if len([w for w in weights.values() if w > 0]) > 1 else default_weights()


def run_budget(config: SynthesisConfig, manifest: Manifest) -> Budget:
    """The run's budget, starting from what its manifest says was already paid."""
    prompt, completion = spend(manifest)
    return Budget(config.budget_tokens, config.budget_usd, *config.billed_prices(), prompt, completion)


class ShardIncomplete(RuntimeError):
    """Some parts of a shard failed (or the budget stopped them); the committed ones stay."""


class SynthesisRun:
    """One attempt at a run's unfinished parts, sharing one backend, ledger, budget and admission."""

    def __init__(self, store: Store, manifest: Manifest, config: SynthesisConfig, backend,
                 on_example: Callable[[], None] | None = None):
        self.store, self.config, self.backend, self.on_example = store, config, backend, on_example
        self.writer = ManifestWriter(store, manifest)
        self.ledger = RequestLedger(store, config.run_id)
        self.budget = run_budget(config, manifest)
        self.admission = Admission(READY_PER_SLOT * backend.capacity)
        self._pair_weights = pair_weights(config)
        self._seen: dict[str, set[str]] = {}  # shard -> committed example ids (exact dedup across parts)
        self._shard_locks: dict[str, asyncio.Lock] = {}
        self.interrupted: str | None = None

    @property
    def manifest(self) -> Manifest:
        return self.writer.manifest

    @property
    def stopped(self) -> bool:
        return self.admission.closed

    def interrupt(self, reason: str) -> None:
        """Stop gracefully (Ctrl-C): admit no part and send no request more; the requests on the wire are
        answered and recorded, each part's accounting is saved, and the run ends with ``reason``."""
        self.interrupted = self.interrupted or reason
        self.writer.stop(self.interrupted)
        self.admission.close()
        self.backend.stop(self.interrupted)

    async def run_shard(self, entry: ShardEntry) -> ShardEntry:
        """Run every unfinished part of a shard, each admitted when the backend has room.

        Raises ShardIncomplete when a part failed. Parts the budget stopped stay pending
        without an error: retrying them is pointless until the budget is raised.
        """
        async def one(part: PartEntry) -> None:
            ticket = await self.admission.admit(ready_at_start(TaskType(entry.task_type), part.requested))
            if ticket is None:
                return
            try:
                await self.run_part(entry.key, part, ticket)
            except Exception as exc:  # the store failed under it: the part is redone on retry
                self.writer.update_part(entry.key, part.index, status=ShardStatus.FAILED,
                                        error=f"{type(exc).__name__}: {exc}"[:500])
            finally:
                ticket.release()

        await asyncio.gather(*(one(p) for p in self.manifest.shards[entry.key].unfinished_parts()))
        done = self.manifest.shards[entry.key]
        if done.status is ShardStatus.FAILED or (done.status is ShardStatus.PENDING and not self.stopped):
            pending = [p.index for p in done.unfinished_parts()]
            raise ShardIncomplete(f"{entry.key}: part(s) {pending} not complete"
                                  + (f" ({done.error})" if done.error else f" ({self.manifest.stopped_reason})"))
        return done

    async def run_language(self, shards: list[ShardEntry]) -> list[ShardEntry]:
        """Run the shards of one language concurrently; raise ShardIncomplete if one is not complete."""
        outcomes = await asyncio.gather(*(self.run_shard(e) for e in shards), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException)]
        for failure in failures:
            if not isinstance(failure, ShardIncomplete):
                raise failure
        if failures:
            raise ShardIncomplete("; ".join(map(str, failures)))
        return list(outcomes)

    async def run_part(self, shard: str, part: PartEntry, ticket: AdmissionTicket | None = None) -> PartEntry:
        """Generate, write and commit one part; its failure is recorded in the manifest, not raised."""
        entry = self.manifest.shards[shard]
        part = self.writer.update_part(shard, part.index, attempts=part.attempts + 1, status=ShardStatus.PENDING, error=None)
        ledger = await asyncio.to_thread(self.ledger.open_part, part.key(shard))
        unbooked = ledger.totals()  # answers paid by an attempt that never committed (killed)
        self.budget.add_spent(max(0, unbooked["prompt_tokens"] - int(part.usage.get("prompt_tokens", 0))),
                              max(0, unbooked["completion_tokens"] - int(part.usage.get("completion_tokens", 0))))
        caller = LLMCaller(self.backend, ledger, self.budget)
        spec = PartSpec(part.index, part.seed, part.requested, first_index=part.index * self.config.part_size)
        try:
            result = await generate_part(caller, TaskType(entry.task_type), entry.language, spec,
                                         max_tries=self.config.max_tries_per_example, checks=self.config.checks,
                                         pair_weights=self._pair_weights,
                                         admission=ticket, on_example=self.on_example)
        finally:
            await asyncio.to_thread(self.ledger.close_part, ledger)
        accounting = dict(usage=ledger.totals(), reused=result.reused, tasks_brainstormed=result.tasks_brainstormed)
        if result.stopped:
            self.admission.close()
            self.writer.stop(result.stopped)
        if not result.complete:
            status = ShardStatus.PENDING if result.stopped and not result.failures else ShardStatus.FAILED
            error = "; ".join(result.failures[:3])[:500] or None
            return self.writer.update_part(shard, part.index, status=status, error=error,
                                           rejects=dict(result.rejects), **accounting)
        rows = await self._new_rows(shard, result)
        path = await asyncio.to_thread(write_part, self.store, self.config.run_id, entry.task_type,
                                       entry.language, part.index, rows)
        committed = self.writer.update_part(shard, part.index, status=ShardStatus.COMPLETE, rows=len(rows),
                                            path=path, rejects=dict(result.rejects), **accounting)
        await asyncio.to_thread(ledger.compact)
        return committed

    async def _new_rows(self, shard: str, result: PartResult) -> list[dict]:
        """The part's rows minus exact duplicates of rows other parts of the shard committed."""
        async with self._shard_locks.setdefault(shard, asyncio.Lock()):
            if shard not in self._seen:
                paths = [p.path for p in self.manifest.shards[shard].parts if p.status is ShardStatus.COMPLETE and p.path]
                self._seen[shard] = await asyncio.to_thread(committed_ids, self.store, paths)
            seen = self._seen[shard]
            rows = [r for r in result.rows if r["example_id"] not in seen]
            if len(rows) < len(result.rows):
                result.rejects["duplicate"] += len(result.rows) - len(rows)
            seen.update(r["example_id"] for r in rows)
            return rows


def by_language(shards: list[ShardEntry]) -> list[list[ShardEntry]]:
    """Shards grouped by language, in plan order: the unit a Prefect task run covers."""
    groups: dict[str, list[ShardEntry]] = {}
    for entry in shards:
        groups.setdefault(entry.language, []).append(entry)
    return list(groups.values())


async def run_languages(run: SynthesisRun, todo: list[ShardEntry],
                        start: Callable[[list[ShardEntry]], Awaitable[object]] | None = None) -> None:
    """Run the shards of each language together, languages in plan order.

    A language starts when its first part could be admitted; at most
    ``ceil(shard_concurrency / task types)`` languages run at once, and none starts once the
    budget stopped the run. ``start`` runs one language (the flow wraps
    :meth:`SynthesisRun.run_language` in a Prefect task).
    """
    start = start or run.run_language
    groups = by_language(todo)
    per_language = max(len(g) for g in groups) if groups else 1
    slots = asyncio.Semaphore(max(1, -(-run.config.shard_concurrency // per_language)))

    async def one(group: list[ShardEntry]) -> None:
        try:
            await start(group)
        except ShardIncomplete:
            pass  # recorded in the manifest; the summary lists it
        finally:
            slots.release()

    jobs = []
    background = [asyncio.create_task(run.ledger.flush_forever()),  # object stores: segments every few seconds
                  asyncio.create_task(run.writer.save_forever())]
    try:
        for group in groups:
            await run.admission.wait_for_room()
            await slots.acquire()
            if run.stopped:
                slots.release()
                break
            jobs.append(asyncio.create_task(one(group)))
        await asyncio.gather(*jobs)
    finally:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await run.writer.save()


def retry_plan(manifest: Manifest, store_url: str, languages: list[str] | None = None) -> tuple[SynthesisConfig, list[str]]:
    """The run's original configuration and the unfinished shards to redo (optionally by language)."""
    if not manifest.config:
        raise ValueError(f"run {manifest.run_id!r} has no stored configuration to retry with")
    config = SynthesisConfig.model_validate({**manifest.config, "store": store_url})
    todo = [e.key for e in manifest.unfinished() if languages is None or e.language in languages]
    return config, todo
