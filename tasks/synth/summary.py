"""What a synthesis run produced, as the CLI, the flow's return value and its artifact show it.

>>> from tasks.runs.manifest import Manifest, PartEntry, ShardEntry
>>> m = Manifest(run_id="r1", shards={"sts/en": ShardEntry(task_type="sts", language="en", seed=1, requested=2,
...                                                        parts=[PartEntry(index=0, seed=2, requested=2)])})
>>> [(row["shard"], row["parts"], row["status"]) for row in shard_table(m)]
[('sts/en', '0/1', 'pending')]
"""

from __future__ import annotations

import time

from pydantic import BaseModel

from tasks.runs.manifest import Manifest, ShardEntry, ShardStatus
from tasks.storage.store import Store
from tasks.runs.tables import filter_table, filtered_by_shard, low_yield_shards, shard_yield, task_type_table  # noqa: F401
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


def summarize(store: Store, manifest: Manifest, config: SynthesisConfig, started: float) -> SynthesisSummary:
    entries = list(manifest.shards.values())
    usage = manifest.usage()
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
        prompt_tokens=int(usage.get("prompt_tokens", 0)),
        completion_tokens=int(usage.get("completion_tokens", 0)),
        llm_calls=int(usage.get("calls", 0)),
        cost_usd=round(config.cost_usd(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0))), 6),
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


