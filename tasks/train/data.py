"""Training pairs from synthesis runs, and the batch schedule every worker agrees on.

Each row becomes (query with its instruction, positive, hard negative or None, task type), as
REFERENCE.md §3 maps the six task types; the synthesis stage already stored the mapped
columns, so here queries only get ``Instruct: {task}\\nQuery: ``.

Batches are homogeneous in whether rows have a hard negative, so every worker holds the
same number of documents (all_gather needs equal shapes) and no query is given a made-up
negative; optionally they are homogeneous in task type too (NV-Embed, FlagEmbedding). No
batch holds a false negative made by the data itself: within one global batch every query
text is distinct and no document text (positive or hard negative) occurs twice, so a pair
mixed in twice (``load_pairs`` samples with replacement) or two queries sharing a document
never make one query's positive another's in-batch negative — at τ = 0.02 such a copy would
dominate the softmax. The schedule is a pure function of (pairs, seed, step): a resumed run
sees the same batches it would have seen.

>>> pairs = [Pair(f"q{i}", f"p{i}", None) for i in range(5)]
>>> [len(b) for b in batch_schedule(pairs, batch_size=2, steps=3, seed=0)]
[2, 2, 2]
>>> copies = [Pair("q", "p", None), Pair("q", "p", None), Pair("r", "s", None)]
>>> sorted(p.query for p in batch_schedule(copies, batch_size=2, steps=1, seed=0)[0])  # never q twice
['q', 'r']
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tasks.train.text import format_query

if TYPE_CHECKING:
    import polars as pl

REQUIRED_COLUMNS = ("task", "query", "positive", "negative")


@dataclass(frozen=True)
class Pair:
    """One training example: the formatted query, its positive, optional hard negative, and the
    synthesis task type it came from (None where unknown)."""

    query: str
    positive: str
    negative: str | None
    task_type: str | None = None

    @property
    def documents(self) -> tuple[str, ...]:
        """The texts this pair adds to a batch's documents."""
        return (self.positive,) if self.negative is None else (self.positive, self.negative)


def split_run_url(url: str) -> tuple[str, str]:
    """``s3://b/prefix/runs/r1`` → (``s3://b/prefix``, ``r1``); a trailing ``/data`` is allowed."""
    trimmed = url.rstrip("/").removesuffix("/data")
    store, sep, run_id = trimmed.rpartition("/runs/")
    if not sep or not run_id or "/" in run_id:
        raise ValueError(f"{url!r} is not a synthesis run URL of the form {{store}}/runs/{{run_id}}")
    return store, run_id


def read_run(url: str) -> pl.DataFrame:
    """The committed rows of one synthesis run (only shards its manifest marks complete).

    polars and the run format are imported here, not with the module: the training loop itself
    (batches, schedule) runs where they are not installed, on pairs it is handed.
    """
    import polars as pl

    from tasks.runs.parts import scan_run
    from tasks.storage.store import open_store

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
    columns = [*REQUIRED_COLUMNS, *(["task_type"] if "task_type" in frame.columns else [])]
    return [Pair(format_query(r["task"], r["query"]), r["positive"], r["negative"] or None, r.get("task_type"))
            for r in frame.select(columns).iter_rows(named=True)]


def load_pairs(urls: list[str], weights: list[float] | None = None, seed: int = 0) -> list[Pair]:
    """Read and mix several runs; with weights, each run contributes in proportion (sampling
    with replacement when a run must contribute more rows than it has; :func:`batch_schedule`
    keeps the copies out of each other's batches)."""
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


def pairs_digest(pairs: list[Pair]) -> str:
    """A sha256 of the training pairs in order: the same runs with other committed rows (a retry
    or a clean wrote to them since) give another digest, so a resume on them can be refused.

    >>> pairs_digest([Pair("q", "p", None)]) == pairs_digest([Pair("q", "p", None)]) != pairs_digest([Pair("q", "p2", None)])
    True
    """
    digest = hashlib.sha256()
    for pair in pairs:
        digest.update(json.dumps([pair.query, pair.positive, pair.negative, pair.task_type]).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def _next_batch(waiting: deque[Pair], batch_size: int) -> tuple[list[Pair], list[Pair]]:
    """Take pairs from the front of ``waiting`` into one batch without a shared query or document.

    Returns (batch, deferred): the pairs that clashed with the batch, in queue order. When
    ``waiting`` runs out first, ``batch`` is short: a maximal clash-free set of what was there.
    """
    batch: list[Pair] = []
    deferred: list[Pair] = []
    queries: set[str] = set()
    documents: set[str] = set()
    while waiting and len(batch) < batch_size:
        pair = waiting.popleft()
        if pair.query in queries or not documents.isdisjoint(pair.documents):
            deferred.append(pair)  # a false negative for someone in this batch: try the next one
            continue
        batch.append(pair)
        queries.add(pair.query)
        documents.update(pair.documents)
    return batch, deferred


def _fill_batches(queue: list[Pair], batch_size: int) -> tuple[list[list[Pair]], list[Pair]]:
    """Cut ``queue`` into clash-free batches in order; return (batches, pairs left over).

    A deferred pair goes first into the next batch, so a clash costs it a batch, not its
    place in the epoch (sentence-transformers' NoDuplicatesBatchSampler is the same greedy,
    but drops what is left; here the caller rolls it into the next epoch).
    """
    batches: list[list[Pair]] = []
    waiting = deque(queue)
    while True:
        batch, deferred = _next_batch(waiting, batch_size)
        if len(batch) < batch_size:
            return batches, batch + deferred
        batches.append(batch)
        waiting.extendleft(reversed(deferred))


def _fewest_clashes_first(group: list[Pair]) -> list[Pair]:
    """``group`` sorted (stably) by how many other pairs share a text with each one: the
    min-degree greedy, which finds a large clash-free set where input order may not."""
    counts = Counter(text for pair in group for text in {pair.query, *pair.documents})
    return sorted(group, key=lambda pair: sum(counts[text] for text in {pair.query, *pair.documents}))


def _group_key(pair: Pair, by_task_type: bool) -> tuple[bool, str]:
    # Rows with a hard negative sort first; "" stands for an unknown task type.
    return pair.negative is None, (pair.task_type or "") if by_task_type else ""


def batch_schedule(pairs: list[Pair], batch_size: int, steps: int, seed: int,
                   same_task_type: bool = False) -> list[list[Pair]]:
    """``steps`` global batches of ``batch_size`` pairs, cycling through the data in epochs.

    Pairs are grouped by whether they have a hard negative (and, with ``same_task_type``, by
    task type); each batch comes from one group. Each epoch shuffles every group, cuts it into
    batches with pairwise distinct queries and documents (a clashing pair is deferred to a
    later batch of the epoch), and shuffles the batches of all groups together; pairs that
    fit no batch of an epoch — the remainder, or copies with nowhere left to go — start the
    next epoch's queue. A group that cannot fill one clash-free batch is left out; if no
    group can, this raises (lower the batch size).
    """
    if bad := next((p for p in pairs if p.negative is not None and p.negative == p.positive), None):
        raise ValueError(f"the pair with query {bad.query[:80]!r} has its positive as its hard negative; "
                         "fix or drop that row")
    groups: dict[tuple[bool, str], list[Pair]] = {}
    for pair in pairs:
        groups.setdefault(_group_key(pair, same_task_type), []).append(pair)
    # One clash-free batch per usable group: proof the group can fill a batch, and a fallback
    # for an epoch whose shuffled order the greedy cannot fill.
    first_batches = {key: _next_batch(deque(_fewest_clashes_first(groups[key])), batch_size)[0]
                     for key in sorted(groups)}
    witnesses = {key: batch for key, batch in first_batches.items() if len(batch) == batch_size}
    if not witnesses:
        split = "whether they have a hard negative" + (" and by task type" if same_task_type else "")
        found = max((len(b) for b in first_batches.values()), default=0)
        raise ValueError(f"batch_size {batch_size} is larger than the data can fill: {len(pairs)} pairs, split by "
                         f"{split}, give no group {batch_size} pairs with distinct queries and documents "
                         f"(found at most {found}); lower --batch-size")
    carried: dict[tuple[bool, str], list[Pair]] = {key: [] for key in witnesses}
    schedule: list[list[Pair]] = []
    epoch = 0
    while len(schedule) < steps:
        rng = random.Random(seed * 1_000_003 + epoch)
        epoch_batches = []
        for key, witness in witnesses.items():
            queue = carried[key] + rng.sample(groups[key], len(groups[key]))
            batches, carried[key] = _fill_batches(queue, batch_size)
            if not batches:  # rare: this order's greedy filled nothing; the witness always fills one
                for pair in witness:
                    queue.remove(pair)
                batches, carried[key] = _fill_batches(witness + queue, batch_size)
            epoch_batches += batches
        rng.shuffle(epoch_batches)
        schedule += epoch_batches
        epoch += 1
    return schedule[:steps]


def local_slice(batch: list[Pair], rank: int, world_size: int) -> list[Pair]:
    """This worker's contiguous share of a global batch (rank r holds rows r*B … r*B + B - 1)."""
    size = len(batch) // world_size
    return batch[rank * size:(rank + 1) * size]
