"""What a synthesis run produced, as the CLI, the flow's return value and its artifact show it.

>>> from tasks.storage.manifest import Manifest, PartEntry, ShardEntry
>>> m = Manifest(run_id="r1", shards={"sts/en": ShardEntry(task_type="sts", language="en", seed=1, requested=2,
...                                                        parts=[PartEntry(index=0, seed=2, requested=2)])})
>>> [(row["shard"], row["parts"], row["status"]) for row in shard_table(m)]
[('sts/en', '0/1', 'pending')]
"""

from __future__ import annotations

import time

from pydantic import BaseModel

from tasks.storage.manifest import Manifest, ShardEntry, ShardStatus
from tasks.storage.store import Store
from tasks.synth.config import SynthesisConfig


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
    low_yield: dict[str, float] = {}  # complete shards that kept under min_yield of what they asked for
    min_yield: float = 0.0
    filtered: dict[str, int] = {}  # rows left out by each drop filter (near_duplicates, contamination)
    filters_error: str | None = None  # the filters failed after the parts were committed

    @property
    def ok(self) -> bool:
        return not self.shards_failed


def shard_yield(entry: ShardEntry) -> float:
    """Rows kept over examples asked for (1.0 for an empty shard)."""
    return entry.rows / entry.requested if entry.requested else 1.0


def filtered_by_shard(manifest: Manifest) -> dict[str, int]:
    """Rows per shard that ``drop`` filters leave out (a row two filters flag counts for each)."""
    dropped: dict[str, int] = {}
    for entry in manifest.filters.values():
        if entry.action == "drop":
            for shard, counts in entry.by_shard.items():
                dropped[shard] = dropped.get(shard, 0) + sum(counts.values())
    return dropped


def low_yield_shards(manifest: Manifest, min_yield: float) -> dict[str, float]:
    """Complete shards whose yield is under ``min_yield``: complete, but not what was asked for.

    >>> from tasks.storage.manifest import ShardEntry
    >>> m = Manifest(run_id="r", shards={"long_long/zh": ShardEntry(task_type="long_long", language="zh", seed=1,
    ...                                  requested=10, rows=2, status="complete")})
    >>> low_yield_shards(m, 0.5)
    {'long_long/zh': 0.2}
    """
    return {e.key: round(shard_yield(e), 3) for e in manifest.shards.values()
            if e.status is ShardStatus.COMPLETE and shard_yield(e) < min_yield}


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
        low_yield=low_yield_shards(manifest, config.min_yield),
        filtered={name: sum(e.counts.values()) for name, e in manifest.filters.items() if e.action == "drop"},
        min_yield=config.min_yield,
    )


def shard_table(manifest: Manifest, config: SynthesisConfig | None = None) -> list[dict]:
    """One row per shard: status, rows, yield (LOW under min_yield), rejects by reason (most first), tokens, cost."""
    min_yield = config.min_yield if config else 0.0
    filtered = filtered_by_shard(manifest)

    def cost(e: ShardEntry) -> float:
        return round(config.cost_usd(e.usage.get("prompt_tokens", 0), e.usage.get("completion_tokens", 0)), 6) if config else 0.0

    return [
        {
            "shard": e.key,
            "status": e.status.value,
            "parts": f"{sum(p.status is ShardStatus.COMPLETE for p in e.parts)}/{len(e.parts)}",
            "requested": e.requested,
            "rows": e.rows,
            "filtered": filtered.get(e.key, 0),
            "yield": f"{shard_yield(e):.0%}" + (" LOW" if min_yield and e.status is ShardStatus.COMPLETE
                                                 and shard_yield(e) < min_yield else ""),
            "rejects": ", ".join(f"{k}={v}" for k, v in sorted(e.rejects.items(), key=lambda kv: -kv[1])) or "-",
            "prompt_tokens": int(e.usage.get("prompt_tokens", 0)),
            "completion_tokens": int(e.usage.get("completion_tokens", 0)),
            "calls": int(e.usage.get("calls", 0)),
            "reused": sum(p.reused for p in e.parts),
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
        requested = sum(e.requested for e in entries)
        table.append({
            "task_type": task_type,
            "shards": f"{sum(e.status is ShardStatus.COMPLETE for e in entries)}/{len(entries)}",
            "rows": rows,
            "yield": f"{rows / requested:.0%}" if requested else "-",
            "calls": calls,
            "valid_json": f"{(calls - invalid) / calls:.0%}" if calls else "-",
            "rejected": rejected,
            "completion_tokens": int(sum(e.usage.get("completion_tokens", 0) for e in entries)),
        })
    return table


def filter_table(manifest: Manifest) -> list[dict]:
    """One row per filter and reason: rows flagged out of rows checked, and what readers do with them.

    >>> from tasks.storage.manifest import FilterEntry
    >>> m = Manifest(run_id="r", filters={"near_duplicates": FilterEntry(path="p", rows_checked=10,
    ...                                   counts={"near_duplicate_query": 2})})
    >>> filter_table(m)
    [{'filter': 'near_duplicates', 'reason': 'near_duplicate_query', 'rows': 2, 'of': 10, 'action': 'drop', 'seconds': 0.0}]
    """
    return [{"filter": name, "reason": reason, "rows": n, "of": entry.rows_checked, "action": entry.action,
             "seconds": entry.seconds}
            for name, entry in manifest.filters.items() for reason, n in (entry.counts or {"-": 0}).items()]
