"""A synthesis run's bookkeeping, without Prefect: plan or resume, run a shard, commit, report.

The flow (``flows/synthesize.py``) calls these in order; tests call them directly.

Example::

    store = open_store("file://./data")
    manifest = prepare_run(store, config)            # plan, or resume a run of the same id
    ledger = RunLedger(store, manifest)
    await run_shard(client, store, ledger, manifest.shards["sts/en"], config)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from pydantic import BaseModel

from tasks.storage.manifest import (
    Manifest,
    ShardEntry,
    ShardStatus,
    check_same_run,
    load_manifest,
    save_manifest,
    utc_now,
)
from tasks.storage.shards import write_shard
from tasks.storage.store import Store
from tasks.synth.config import SynthesisConfig, plan_shards
from tasks.synth.languages import default_weights
from tasks.synth.llm import LLMClient
from tasks.synth.shard import ShardFailed, ShardResult, generate_shard
from tasks.synth.task_types import TaskType


def prepare_run(store: Store, config: SynthesisConfig) -> Manifest:
    """Load the run's manifest (checking it is the same run) or plan a new one and save it.

    Saving the plan first means every planned shard is listed, as pending, before any LLM call.
    """
    manifest = load_manifest(store, config.run_id)
    if manifest is not None:
        check_same_run(manifest, config.identity())
        return manifest
    manifest = Manifest(run_id=config.run_id, parameters=config.identity())
    manifest.parameters["model"] = config.llm.model
    manifest.config = config.model_dump(mode="json")
    manifest.shards = {entry.key: entry for entry in plan_shards(config)}
    save_manifest(store, manifest)
    return manifest


class RunLedger:
    """Serialises manifest updates from concurrent shards; every update is saved at once."""

    def __init__(self, store: Store, manifest: Manifest):
        self.store, self.manifest = store, manifest
        self._lock = asyncio.Lock()

    async def update(self, key: str, **changes) -> ShardEntry:
        async with self._lock:
            entry = self.manifest.shards[key].model_copy(update={**changes, "updated_at": utc_now()})
            self.manifest.shards[key] = entry
            await asyncio.to_thread(save_manifest, self.store, self.manifest)
            return entry

    async def stop(self, reason: str) -> None:
        """Record why the run stopped starting shards (once)."""
        async with self._lock:
            if self.manifest.stopped_reason != reason:
                self.manifest.stopped_reason = reason
                await asyncio.to_thread(save_manifest, self.store, self.manifest)


def spend(manifest: Manifest) -> tuple[int, int]:
    """(prompt, completion) tokens used by the run so far, over all shards and attempts."""
    entries = manifest.shards.values()
    return (int(sum(e.usage.get("prompt_tokens", 0) for e in entries)),
            int(sum(e.usage.get("completion_tokens", 0) for e in entries)))


def budget_reached(config: SynthesisConfig, manifest: Manifest) -> str | None:
    """Why no new shard may start (token or spend budget used up), or None."""
    prompt, completion = spend(manifest)
    if config.budget_tokens is not None and prompt + completion >= config.budget_tokens:
        return f"token budget reached: {prompt + completion} of {config.budget_tokens} tokens used"
    cost = config.cost_usd(prompt, completion)
    if config.budget_usd is not None and cost >= config.budget_usd:
        return f"spend budget reached: ${cost:.4f} of ${config.budget_usd:.4f} estimated"
    return None


def pair_weights(config: SynthesisConfig) -> dict[str, float]:
    """Where the other side of a bitext pair is drawn from: the selected languages, or all 93."""
    weights = config.weights()
    return weights if len([w for w in weights.values() if w > 0]) > 1 else default_weights()


async def run_shard(
    client: LLMClient,
    store: Store,
    ledger: RunLedger,
    entry: ShardEntry,
    config: SynthesisConfig,
    on_example: Callable[[], None] | None = None,
) -> ShardEntry:
    """Generate, write and commit one shard. Raises ShardFailed; the caller decides on retries.

    Usage and rejects accumulate over attempts: a failed attempt's spend is still spend.
    """
    before = ledger.manifest.shards[entry.key]
    await ledger.update(entry.key, attempts=before.attempts + 1, status=ShardStatus.PENDING, error=None)
    try:
        result: ShardResult = await generate_shard(
            client,
            TaskType(entry.task_type),
            entry.language,
            entry.requested,
            entry.seed,
            max_tries=config.max_tries_per_example,
            pair_weights=pair_weights(config),
            on_example=on_example,
        )
    except ShardFailed as failure:
        partial = failure.partial or ShardResult(rows=[])
        await ledger.update(entry.key, status=ShardStatus.FAILED, error=str(failure)[:500],
                            **_accumulate(before, partial))
        raise
    path = await asyncio.to_thread(write_shard, store, config.run_id, entry.task_type, entry.language, result.rows)
    return await ledger.update(
        entry.key,
        status=ShardStatus.COMPLETE,
        rows=len(result.rows),
        tasks_brainstormed=result.tasks_brainstormed,
        path=path,
        **_accumulate(before, result),
    )


def _accumulate(before: ShardEntry, result: ShardResult) -> dict:
    """The entry's rejects and usage plus this attempt's."""
    rejects = dict(before.rejects)
    for reason, count in result.rejects.items():
        rejects[reason] = rejects.get(reason, 0) + count
    usage = dict(before.usage)
    for name, value in result.usage.as_dict().items():
        usage[name] = round(usage.get(name, 0) + value, 3)
    return {"rejects": rejects, "usage": usage}


class SynthesisSummary(BaseModel):
    """What a run produced, for the CLI, the flow's return value and the artifact."""

    run_id: str
    store: str
    manifest_url: str
    data_url: str
    rows: int
    shards_complete: int
    shards_failed: list[str]
    failed_errors: dict[str, str]
    prompt_tokens: int
    completion_tokens: int
    llm_calls: int
    cost_usd: float
    stopped_reason: str | None
    seconds: float

    @property
    def ok(self) -> bool:
        return not self.shards_failed


def summarize(store: Store, manifest: Manifest, config: SynthesisConfig, started: float) -> SynthesisSummary:
    entries = list(manifest.shards.values())
    usage = lambda name: int(sum(e.usage.get(name, 0) for e in entries))  # noqa: E731
    failed = [e for e in entries if e.status is not ShardStatus.COMPLETE]
    return SynthesisSummary(
        run_id=manifest.run_id,
        store=store.url(),
        manifest_url=store.url("runs", manifest.run_id, "manifest.json"),
        data_url=store.url("runs", manifest.run_id, "data"),
        rows=manifest.total_rows(),
        shards_complete=len(entries) - len(failed),
        shards_failed=[e.key for e in failed],
        failed_errors={e.key: e.error or e.status.value for e in failed},
        prompt_tokens=usage("prompt_tokens"),
        completion_tokens=usage("completion_tokens"),
        llm_calls=usage("calls"),
        cost_usd=round(config.cost_usd(usage("prompt_tokens"), usage("completion_tokens")), 6),
        stopped_reason=manifest.stopped_reason,
        seconds=round(time.perf_counter() - started, 2),
    )


def shard_table(manifest: Manifest, config: SynthesisConfig | None = None) -> list[dict]:
    """One row per shard: status, rows, rejects by reason, tokens, estimated cost (the run's artifact)."""
    def cost(e: ShardEntry) -> float:
        return round(config.cost_usd(e.usage.get("prompt_tokens", 0), e.usage.get("completion_tokens", 0)), 6) if config else 0.0

    return [
        {
            "shard": e.key,
            "status": e.status.value,
            "requested": e.requested,
            "rows": e.rows,
            "rejects": ", ".join(f"{k}={v}" for k, v in sorted(e.rejects.items())) or "-",
            "prompt_tokens": int(e.usage.get("prompt_tokens", 0)),
            "completion_tokens": int(e.usage.get("completion_tokens", 0)),
            "calls": int(e.usage.get("calls", 0)),
            "est_cost_usd": cost(e),
            "attempts": e.attempts,
            "error": e.error or "",
        }
        for e in manifest.shards.values()
    ]


def task_type_table(manifest: Manifest) -> list[dict]:
    """Per task type: rows kept, LLM calls, valid-JSON rate and keep rate over all attempts."""
    groups: dict[str, list[ShardEntry]] = {}
    for entry in manifest.shards.values():
        groups.setdefault(entry.task_type, []).append(entry)
    table = []
    for task_type, entries in groups.items():
        calls = int(sum(e.usage.get("calls", 0) for e in entries))
        invalid = sum(v for e in entries for k, v in e.rejects.items() if k.endswith("invalid_json"))
        rejected = sum(sum(e.rejects.values()) for e in entries)
        rows = sum(e.rows for e in entries)
        table.append({
            "task_type": task_type,
            "shards": f"{sum(e.status is ShardStatus.COMPLETE for e in entries)}/{len(entries)}",
            "rows": rows,
            "calls": calls,
            "valid_json": f"{(calls - invalid) / calls:.0%}" if calls else "-",
            "rejected": rejected,
            "completion_tokens": int(sum(e.usage.get("completion_tokens", 0) for e in entries)),
        })
    return table


def retry_plan(manifest: Manifest, store_url: str, languages: list[str] | None = None) -> tuple[SynthesisConfig, list[str]]:
    """The run's original configuration and the unfinished shards to redo (optionally by language)."""
    if not manifest.config:
        raise ValueError(f"run {manifest.run_id!r} has no stored configuration to retry with")
    config = SynthesisConfig.model_validate({**manifest.config, "store": store_url})
    todo = [e.key for e in manifest.unfinished() if languages is None or e.language in languages]
    return config, todo
