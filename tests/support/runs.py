"""Synthesis runs written directly, without an LLM: one row builder and one run builder for every test.

Rows follow the one row contract (:data:`tasks.runs.schema.ROW_COLUMNS`); runs are committed
the way synthesis commits them — each part's Parquet file first, then a current (version 2)
manifest whose shards hold their parts.

>>> sorted(row(0)) == sorted(ROW_COLUMNS)
True
>>> row(3, query="capital of Peru")["query"], row(3)["example_id"]
('capital of Peru', '0000000000000003')
"""

from __future__ import annotations

from pathlib import Path

from tasks.runs.manifest import Manifest, PartEntry, ShardEntry, ShardStatus, save_manifest
from tasks.runs.parts import write_part
from tasks.runs.schema import ROW_COLUMNS
from tasks.storage.store import Store, open_store


def row(i: int, **fields) -> dict:
    """Row ``i`` with every column of the contract: a short STS example in English unless ``fields`` say otherwise."""
    unknown = set(fields) - set(ROW_COLUMNS)
    assert not unknown, f"not columns of a row: {sorted(unknown)}"
    task_type = fields.get("task_type", "sts")
    return {"example_id": f"{i:016x}", "task_type": task_type, "language": "en", "task": "t", "query": f"q{i}",
            "positive": "p", "negative": "n", "model": "m", "template_id": f"{task_type}.generate.v1",
            "placeholders": "{}", "raw": "{}", "prompt_tokens": 1, "completion_tokens": 2, "shard_seed": 3,
            "example_index": i, **fields}


def complete_part(index: int, path: str | None, rows: int, seed: int = 1, requested: int | None = None,
                  **fields) -> PartEntry:
    """A committed part of ``rows`` rows (of ``requested``, by default as many) at ``path``."""
    return PartEntry(index=index, seed=seed, requested=rows if requested is None else requested, rows=rows,
                     status=ShardStatus.COMPLETE, path=path, **fields)


def shard(task_type: str, language: str, parts: list[PartEntry], seed: int = 1, requested: int | None = None) -> ShardEntry:
    """A shard of ``parts``, its status and totals computed from them as synthesis computes them."""
    entry = ShardEntry(task_type=task_type, language=language, seed=seed, parts=parts,
                       requested=sum(p.requested for p in parts) if requested is None else requested)
    for part in parts:
        entry = entry.with_part(part)
    return entry


def write_run(store: Store | str, run_id: str, rows: list[dict], **manifest_fields) -> Manifest:
    """Commit ``rows`` as a run: one part per (task type, language), all complete; return the manifest."""
    store = open_store(store) if isinstance(store, str) else store
    by_shard: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        by_shard.setdefault((r["task_type"], r["language"]), []).append(r)
    manifest = Manifest(run_id=run_id, **manifest_fields)
    for (task_type, language), shard_rows in by_shard.items():
        path = write_part(store, run_id, task_type, language, 0, shard_rows)
        entry = shard(task_type, language, [complete_part(0, path, len(shard_rows))])
        manifest.shards[entry.key] = entry
    save_manifest(store, manifest)
    return manifest


def training_run(root: Path | str, run_id: str = "r1", n: int = 16, negative: bool = True) -> str:
    """A committed STS run of ``n`` rows whose documents are distinct within and across runs; its URL."""
    rows = [row(i, task="Find answers.", positive=f"{run_id}-p{i}", negative=f"{run_id}-n{i}" if negative else None)
            for i in range(n)]
    write_run(f"file://{root}", run_id, rows)
    return f"file://{root}/runs/{run_id}"
