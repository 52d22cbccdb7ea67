"""What a synthesis run produced, as the CLI, the flow's return value and its artifact show it.

>>> from tasks.runs.manifest import Manifest, PartEntry, ShardEntry
>>> m = Manifest(run_id="r1", shards={"sts/en": ShardEntry(task_type="sts", language="en", seed=1, requested=2,
...                                                        parts=[PartEntry(index=0, seed=2, requested=2)])})
>>> [(row["shard"], row["parts"], row["status"]) for row in shard_table(m)]
[('sts/en', '0/1', 'pending')]
"""

from __future__ import annotations

import math
import re
import time

from pydantic import BaseModel

from tasks.runs.manifest import Manifest, ShardEntry, ShardStatus
from tasks.runs.tables import filtered_by_shard, low_yield_shards, shard_yield
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


def budget_to_finish(manifest: Manifest, config: SynthesisConfig) -> dict[str, float]:
    """Raised budgets that would let a retry finish a run its budget stopped, for each budget that stopped it
    (``budget_tokens``, ``budget_usd``): what the run spent, plus its unfinished examples at what an answer has
    cost so far and a fifth more for retried answers, plus room for two requests' worst case (a request is
    sent only when its worst case fits); at least a quarter more than the budget, up to two significant digits.

    >>> from tasks.runs.manifest import PartEntry
    >>> m = Manifest(run_id="r", stopped_reason="token budget: 900 of 1000 tokens spent, 0 reserved; "
    ...              "a request may need 300", shards={"sts/en": ShardEntry(task_type="sts", language="en", seed=1,
    ...              requested=20, usage={"calls": 9, "prompt_tokens": 450, "completion_tokens": 450},
    ...              parts=[PartEntry(index=0, seed=2, requested=20, usage={"calls": 9})])})
    >>> c = SynthesisConfig(budget_tokens=1000, llm={"base_url": "http://x/v1", "model": "m"})
    >>> budget_to_finish(m, c)  # 900 spent on 9 answers, 11 examples to go: 900 + 1.2 * 11 * 100 + 2 * 300
    {'budget_tokens': 2900}
    """
    reason = manifest.stopped_reason or ""
    usage = manifest.usage()
    calls, prompt, completion = usage.get("calls", 0), usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0)
    spent = {"tokens": prompt + completion, "usd": config.cost_usd(prompt, completion)}
    if calls:
        each = {"tokens": spent["tokens"] / calls, "usd": spent["usd"] / calls}
        left = sum(max(0, p.requested - int(p.usage.get("calls", 0))) for e in manifest.unfinished()
                   for p in e.unfinished_parts())
    else:  # not one answer fit: the dry run's estimate of the whole plan
        from tasks.synth.estimate import estimate_run

        plan = estimate_run(config)
        left = max(plan.requests, 1)
        each = {"tokens": (plan.prompt_tokens + plan.completion_tokens) / left,
                "usd": config.cost_usd(plan.prompt_tokens, plan.completion_tokens) / left}
    tokens_need, usd_cost = re.search(r"may need (\d+)", reason), re.search(r"may cost \$([\d.]+)", reason)
    worst = {"tokens": float(tokens_need.group(1)) if tokens_need else config.llm.max_tokens + each["tokens"],
             "usd": float(usd_cost.group(1)) if usd_cost else config.cost_usd(0, config.llm.max_tokens) + each["usd"]}
    need = {k: spent[k] + 1.2 * left * each[k] + 2 * worst[k] for k in spent}
    raised: dict[str, float] = {}
    if config.budget_tokens is not None and reason.startswith("token budget"):
        raised["budget_tokens"] = int(_round_up(max(need["tokens"], 1.25 * config.budget_tokens)))
    if config.budget_usd is not None and reason.startswith("spend budget"):
        raised["budget_usd"] = _round_up(max(need["usd"], 1.25 * config.budget_usd))
    return raised


def _round_up(x: float) -> float:
    """Up to two significant digits: 2204 -> 2300, 0.01234 -> 0.013."""
    if x <= 0:
        return 0.0
    step = 10 ** (math.floor(math.log10(x)) - 1)
    return round(math.ceil(x / step - 1e-9) * step, 12)
