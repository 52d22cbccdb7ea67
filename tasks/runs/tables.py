"""What a run's manifest says, as table rows: yield per shard and task type, and the filters' verdicts.

The status command, the synthesis summary, ``synthembed clean`` and the dataset card all show
these; they are computed here once, from the manifest alone.
"""

from __future__ import annotations

from tasks.runs.manifest import Manifest, ShardEntry, ShardStatus, summed


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

    >>> from tasks.runs.manifest import ShardEntry
    >>> m = Manifest(run_id="r", shards={"long_long/zh": ShardEntry(task_type="long_long", language="zh", seed=1,
    ...                                  requested=10, rows=2, status="complete")})
    >>> low_yield_shards(m, 0.5)
    {'long_long/zh': 0.2}
    """
    return {e.key: round(shard_yield(e), 3) for e in manifest.shards.values()
            if e.status is ShardStatus.COMPLETE and shard_yield(e) < min_yield}


def task_type_table(manifest: Manifest, rows_by_type: dict[str, int] | None = None) -> list[dict]:
    """Per task type: shards complete, examples asked for, rows kept (``rows_by_type`` when the rows
    read differ from the committed ones: after drop filters), yield, LLM calls, valid-JSON rate,
    answers rejected and completion tokens."""
    groups: dict[str, list[ShardEntry]] = {}
    for entry in manifest.shards.values():
        groups.setdefault(entry.task_type, []).append(entry)
    table = []
    for task_type, entries in groups.items():
        usage = summed(e.usage for e in entries)
        calls = int(usage.get("calls", 0))
        invalid = sum(v for e in entries for k, v in e.rejects.items() if k.endswith("invalid_json"))
        rows = sum(e.rows for e in entries) if rows_by_type is None else rows_by_type.get(task_type, 0)
        requested = sum(e.requested for e in entries)
        table.append({
            "task_type": task_type,
            "shards": f"{sum(e.status is ShardStatus.COMPLETE for e in entries)}/{len(entries)}",
            "requested": requested,
            "rows": rows,
            "yield": f"{rows / requested:.0%}" if requested else "-",
            "calls": calls,
            "valid_json": f"{(calls - invalid) / calls:.0%}" if calls else "-",
            "rejected": sum(sum(e.rejects.values()) for e in entries),
            "completion_tokens": int(usage.get("completion_tokens", 0)),
        })
    return table


def filter_table(manifest: Manifest) -> list[dict]:
    """One row per filter and reason: rows flagged out of rows checked, and what readers do with them.

    >>> from tasks.runs.manifest import FilterEntry
    >>> m = Manifest(run_id="r", filters={"near_duplicates": FilterEntry(path="p", rows_checked=10,
    ...                                   counts={"near_duplicate_query": 2})})
    >>> filter_table(m)
    [{'filter': 'near_duplicates', 'action': 'drop', 'reason': 'near_duplicate_query', 'rows': 2, 'of': 10, 'seconds': 0.0}]
    """
    return [{"filter": name, "action": entry.action, "reason": reason, "rows": n, "of": entry.rows_checked,
             "seconds": entry.seconds}
            for name, entry in manifest.filters.items() for reason, n in (entry.counts or {"-": 0}).items()]

