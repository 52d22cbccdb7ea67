"""Training pairs from synthesis runs, and the batch schedule every worker agrees on.

Each row becomes (query with its instruction, positive, hard negative or None), as
REFERENCE.md §3 maps the six task types; the synthesis stage already stored the mapped
columns, so here queries only get ``Instruct: {task}\\nQuery: ``.

Batches are homogeneous in whether rows have a hard negative, so every worker holds the
same number of documents (all_gather needs equal shapes) and no query is given a made-up
negative. The schedule is a pure function of (seed, step): a resumed run sees the same
batches it would have seen.

>>> pairs = [Pair(f"q{i}", f"p{i}", None) for i in range(5)]
>>> [len(b) for b in batch_schedule(pairs, batch_size=2, steps=3, seed=0)]
[2, 2, 2]
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import polars as pl

from tasks.storage.shards import scan_run
from tasks.storage.store import open_store
from tasks.train.text import format_query

REQUIRED_COLUMNS = ("task", "query", "positive", "negative")


@dataclass(frozen=True)
class Pair:
    """One training example: the formatted query, its positive and optional hard negative."""

    query: str
    positive: str
    negative: str | None


def split_run_url(url: str) -> tuple[str, str]:
    """``s3://b/prefix/runs/r1`` → (``s3://b/prefix``, ``r1``); a trailing ``/data`` is allowed."""
    trimmed = url.rstrip("/").removesuffix("/data")
    store, sep, run_id = trimmed.rpartition("/runs/")
    if not sep or not run_id or "/" in run_id:
        raise ValueError(f"{url!r} is not a synthesis run URL of the form {{store}}/runs/{{run_id}}")
    return store, run_id


def read_run(url: str) -> pl.DataFrame:
    """The committed rows of one synthesis run (only shards its manifest marks complete)."""
    store, run_id = split_run_url(url)
    try:
        frame = scan_run(open_store(store), run_id).collect()
    except FileNotFoundError as exc:
        raise ValueError(f"{url}: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{url}: missing column(s) {', '.join(missing)}")
    usable = frame.filter(pl.col("query").str.len_chars() > 0, pl.col("positive").str.len_chars() > 0)
    if usable.height == 0:
        raise ValueError(f"{url}: no training rows (is the synthesis run complete?)")
    return usable


def to_pairs(frame: pl.DataFrame) -> list[Pair]:
    return [Pair(format_query(r["task"], r["query"]), r["positive"], r["negative"] or None)
            for r in frame.select(REQUIRED_COLUMNS).iter_rows(named=True)]


def load_pairs(urls: list[str], weights: list[float] | None = None, seed: int = 0) -> list[Pair]:
    """Read and mix several runs; with weights, each run contributes in proportion (sampling
    with replacement when a run must contribute more rows than it has)."""
    runs = [to_pairs(read_run(url)) for url in urls]
    if weights is None or len(runs) == 1:
        return [pair for run in runs for pair in run]
    rng = random.Random(seed)
    total = sum(len(run) for run in runs)
    mixed: list[Pair] = []
    for run, weight in zip(runs, weights):
        target = max(1, round(total * weight / sum(weights)))
        mixed += rng.sample(run, target) if target <= len(run) else rng.choices(run, k=target)
    return mixed


def batch_schedule(pairs: list[Pair], batch_size: int, steps: int, seed: int) -> list[list[Pair]]:
    """``steps`` global batches of ``batch_size`` pairs, cycling through the data in epochs.

    Pairs with and without hard negatives go into separate batches; a group smaller than a
    batch is left out (with a check that something remains).
    """
    groups = [[p for p in pairs if p.negative is not None], [p for p in pairs if p.negative is None]]
    groups = [g for g in groups if len(g) >= batch_size]
    if not groups:
        raise ValueError(f"batch_size {batch_size} is larger than the data ({len(pairs)} pairs, "
                         "split by whether they have a hard negative); lower --batch-size")
    schedule: list[list[Pair]] = []
    epoch = 0
    while len(schedule) < steps:
        rng = random.Random(seed * 1_000_003 + epoch)
        epoch_batches = []
        for group in groups:
            order = rng.sample(group, len(group))
            epoch_batches += [order[i:i + batch_size] for i in range(0, len(order) - batch_size + 1, batch_size)]
        rng.shuffle(epoch_batches)
        schedule += epoch_batches
        epoch += 1
    return schedule[:steps]


def local_slice(batch: list[Pair], rank: int, world_size: int) -> list[Pair]:
    """This worker's contiguous share of a global batch (rank r holds rows r*B … r*B + B - 1)."""
    size = len(batch) // world_size
    return batch[rank * size:(rank + 1) * size]
