"""Training pairs from synthesis runs (and labelled sets), and the batch schedule every worker agrees on.

Each row becomes (query with its instruction, positive, hard negatives, task type), as
REFERENCE.md §3 maps the six task types; the synthesis stage already stored the mapped
columns, so here queries only get ``Instruct: {task}\\nQuery: ``. A row's hard negatives are
its own ``negative`` (if any), then the ``mined_negatives`` a cleaning pass may have added (a row's
``positive`` is the one a relabeling pass chose, where it replaced the generated one),
at most ``negatives_per_query`` of them (default 1: the paper's one hard negative).

Batches are homogeneous in the number of hard negatives per pair, so every worker holds the
same number of documents (all_gather needs equal shapes) and no query is given a made-up
negative nor loses one of its own: padding a short row with another row's text would invent
a negative, and cutting every row to the batch's fewest would throw away mined negatives
(the point of mining them). Optionally batches are homogeneous in task type too (NV-Embed,
FlagEmbedding). No
batch holds a false negative made by the data itself: within one global batch every query
text is distinct and no document text (positive or any hard negative) occurs twice, so a pair
mixed in twice (``load_pairs`` samples with replacement) or two queries sharing a document
never make one query's positive another's in-batch negative — at τ = 0.02 such a copy would
dominate the softmax. The schedule is a pure function of (pairs, seed, step): a resumed run
sees the same batches it would have seen.

>>> pairs = [Pair(f"q{i}", f"p{i}") for i in range(5)]
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

from tasks.train.sources import LABELLED_TASK_TYPE, read_labelled, row_key, source_kind
from tasks.train.text import format_query

if TYPE_CHECKING:
    import polars as pl

    from tasks.train.config import TrainConfig

REQUIRED_COLUMNS = ("task", "query", "positive", "negative")
AUTO_HOLDOUT, AUTO_HOLDOUT_MIN_ROWS = 0.1, 20  # holdout_fraction None: 10 % of the rows, from 20 rows on
MINED_COLUMN = "mined_negatives"  # optional: list[str] of negatives mined for the row, best first


@dataclass(frozen=True)
class Pair:
    """One training example: the formatted query, its positive, its hard negatives (possibly none),
    and the synthesis task type it came from (None where unknown).

    ``negatives`` also takes the older one-negative form (a string or None); empty texts and
    repeats are dropped, order kept:

    >>> Pair("q", "p", "n").negatives, Pair("q", "p", None).negatives, Pair("q", "p", ["a", "", "a", "b"]).negatives
    (('n',), (), ('a', 'b'))
    """

    query: str
    positive: str
    negatives: tuple[str, ...] = ()
    task_type: str | None = None

    def __post_init__(self) -> None:
        given = self.negatives
        texts = () if given is None else (given,) if isinstance(given, str) else tuple(given)
        object.__setattr__(self, "negatives", tuple(dict.fromkeys(t for t in texts if t)))

    @property
    def negative(self) -> str | None:
        """The first hard negative, or None (what code written for one negative reads)."""
        return self.negatives[0] if self.negatives else None

    @property
    def documents(self) -> tuple[str, ...]:
        """The texts this pair adds to a batch's documents: its positive, then its hard negatives."""
        return (self.positive, *self.negatives)

    @classmethod
    def from_dict(cls, row: dict) -> Pair:
        """A pair from a JSON object with ``negatives`` (a list) or the older ``negative`` (a string or null)."""
        negatives = row["negatives"] if "negatives" in row else row.get("negative")
        return cls(row["query"], row["positive"], negatives, row.get("task_type"))


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
        frame = scan_run(open_store(store), run_id, mined_negatives=True, relabeled=True).collect()
    except FileNotFoundError as exc:
        raise ValueError(f"{url}: {exc}") from None
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{url}: missing column(s) {', '.join(missing)}")
    usable = frame.filter(pl.col("query").str.len_chars() > 0, pl.col("positive").str.len_chars() > 0)
    if usable.height == 0:
        raise ValueError(f"{url}: no training rows (is the synthesis run complete?)")
    return usable


def row_negatives(own: str | None, mined: list[str] | None, limit: int, positive: str | None = None) -> list[str]:
    """A row's hard negatives: its own first, then mined ones (never its ``positive``), at most ``limit``.

    >>> row_negatives("n", ["m1", "n", "m2"], 2), row_negatives(None, ["p", "m1"], 1, positive="p")
    (['n', 'm1'], ['m1'])
    """
    texts = [own, *(t for t in mined or [] if t != positive)]
    return list(dict.fromkeys(t for t in texts if t))[:limit]


def to_pairs(frame: pl.DataFrame, negatives_per_query: int = 1) -> list[Pair]:
    """A run's rows as pairs; a ``mined_negatives`` column, where present, adds negatives after the row's own."""
    extra = [c for c in ("task_type", MINED_COLUMN) if c in frame.columns]
    return [Pair(format_query(r["task"], r["query"]), r["positive"],
                 tuple(row_negatives(r["negative"], r.get(MINED_COLUMN), negatives_per_query, r["positive"])),
                 r.get("task_type"))
            for r in frame.select([*REQUIRED_COLUMNS, *extra]).iter_rows(named=True)]


def mix(sources: list[list[Pair]], weights: list[float] | None, seed: int) -> list[Pair]:
    """Mix several sources' pairs; with weights, each source contributes in proportion to its weight
    (sampling with replacement when a source must contribute more rows than it has;
    :func:`batch_schedule` keeps the copies out of each other's batches). The schedule draws
    batches in proportion to the mixed pairs, so each source gets its weight's share of the steps."""
    if weights is None or len(sources) == 1:
        return [pair for source in sources for pair in source]
    rng = random.Random(seed)
    total = sum(len(source) for source in sources)
    mixed: list[Pair] = []
    for source, weight in zip(sources, weights):
        target = max(1, round(total * weight / sum(weights)))
        mixed += rng.sample(source, target) if target <= len(source) else rng.choices(source, k=target)
    return mixed


def read_source_pairs(url: str, negatives_per_query: int = 1, labelled_instruction: str | None = None,
                      excluded: frozenset[str] = frozenset()) -> list[Pair]:
    """One ``--data`` entry's pairs: a synthesis run's committed rows, or a labelled set's checked rows
    (:mod:`tasks.train.sources`) with ``labelled_instruction``, less those whose row key is ``excluded``."""
    if source_kind(url) == "run":
        return to_pairs(read_run(url), negatives_per_query)
    if not labelled_instruction:
        raise ValueError(f"{url}: labelled rows need an instruction for their queries (--labelled-instruction)")
    pairs = [Pair(format_query(labelled_instruction, r["query"]), r["positive"],
                  tuple(row_negatives(None, r["negatives"], negatives_per_query, r["positive"])), LABELLED_TASK_TYPE)
             for r in read_labelled(url).iter_rows(named=True) if row_key(r["query"], r["positive"]) not in excluded]
    if not pairs:
        raise ValueError(f"{url}: no training rows left once the rows overlapping evaluation data are left out")
    return pairs


@dataclass(frozen=True)
class TrainingPairs:
    """What training reads: the mixed training pairs, and the held-out pairs it never trains on."""

    train: list[Pair]
    heldout: list[Pair]


def held_out_queries(pairs: list[Pair], fraction: float, seed: int) -> frozenset[str]:
    """About ``fraction`` of the distinct query texts of ``pairs``, drawn by ``seed``: every pair with one of them
    is held out, so no held-out query is also trained on (whichever source the pair came from).

    >>> held = held_out_queries([Pair(f"q{i}", f"p{i}") for i in range(10)], 0.2, seed=0)
    >>> len(held)
    2
    """
    queries = sorted({pair.query for pair in pairs})
    return frozenset(random.Random(seed).sample(queries, round(len(queries) * fraction)))


def load_split(urls: list[str], weights: list[float] | None = None, seed: int = 0, negatives_per_query: int = 1,
               labelled_instruction: str | None = None, excluded: frozenset[str] = frozenset(),
               holdout_fraction: float | None = 0.0) -> TrainingPairs:
    """Read every source (synthesis runs, labelled sets: :mod:`tasks.train.sources`), hold out a slice of the
    rows, and mix the rest by ``weights``.

    The slice is taken before mixing, so a row drawn twice by the mix cannot sit on both sides.
    ``holdout_fraction`` None: :data:`AUTO_HOLDOUT` of the rows when the sources hold at least
    :data:`AUTO_HOLDOUT_MIN_ROWS` together, else none (too few rows to spare any).
    """
    sources = [read_source_pairs(url, negatives_per_query, labelled_instruction, excluded) for url in urls]
    everything = [pair for source in sources for pair in source]
    if holdout_fraction is None:
        holdout_fraction = AUTO_HOLDOUT if len(everything) >= AUTO_HOLDOUT_MIN_ROWS else 0.0
    held = held_out_queries(everything, holdout_fraction, seed)
    train = [[pair for pair in source if pair.query not in held] for source in sources]
    if empty := next((url for url, rows in zip(urls, train) if not rows), None):
        raise ValueError(f"{empty}: every row was held out; lower --holdout-fraction")
    return TrainingPairs(mix(train, weights, seed), [pair for pair in everything if pair.query in held])


def load_pairs(urls: list[str], weights: list[float] | None = None, seed: int = 0, negatives_per_query: int = 1,
               labelled_instruction: str | None = None, excluded: frozenset[str] = frozenset()) -> list[Pair]:
    """Every source's rows, mixed by ``weights``, nothing held out."""
    return load_split(urls, weights, seed, negatives_per_query, labelled_instruction, excluded).train


def pairs_for(config: TrainConfig) -> TrainingPairs:
    """The training and held-out pairs ``config`` describes (every worker computes the same)."""
    return load_split(config.data, config.data_weights, config.seed, config.negatives_per_query,
                      config.labelled_instruction, frozenset(config.excluded_rows), config.holdout_fraction)


def pairs_digest(pairs: list[Pair]) -> str:
    """A sha256 of the training pairs in order: the same runs with other committed rows (a retry
    or a clean wrote to them since) give another digest, so a resume on them can be refused.

    >>> pairs_digest([Pair("q", "p")]) == pairs_digest([Pair("q", "p")]) != pairs_digest([Pair("q", "p2")])
    True

    A pair with at most one negative is hashed as before several were possible, so the digest a
    checkpoint stored then still matches the same data now.
    """
    digest = hashlib.sha256()
    for pair in pairs:
        negatives = pair.negative if len(pair.negatives) <= 1 else list(pair.negatives)
        digest.update(json.dumps([pair.query, pair.positive, negatives, pair.task_type]).encode())
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


def _group_key(pair: Pair, by_task_type: bool) -> tuple[int, str]:
    # Rows with the most hard negatives sort first; "" stands for an unknown task type.
    return -len(pair.negatives), (pair.task_type or "") if by_task_type else ""


def batch_schedule(pairs: list[Pair], batch_size: int, steps: int, seed: int,
                   same_task_type: bool = False) -> list[list[Pair]]:
    """``steps`` global batches of ``batch_size`` pairs, cycling through the data in epochs.

    Pairs are grouped by their number of hard negatives (and, with ``same_task_type``, by
    task type); each batch comes from one group. Each epoch shuffles every group, cuts it into
    batches with pairwise distinct queries and documents (a clashing pair is deferred to a
    later batch of the epoch), and shuffles the batches of all groups together; pairs that
    fit no batch of an epoch — the remainder, or copies with nowhere left to go — start the
    next epoch's queue. A group that cannot fill one clash-free batch is left out; if no
    group can, this raises (lower the batch size).
    """
    if bad := next((p for p in pairs if p.positive in p.negatives), None):
        raise ValueError(f"the pair with query {bad.query[:80]!r} has its positive as its hard negative; "
                         "fix or drop that row")
    groups: dict[tuple[int, str], list[Pair]] = {}
    for pair in pairs:
        groups.setdefault(_group_key(pair, same_task_type), []).append(pair)
    # One clash-free batch per usable group: proof the group can fill a batch, and a fallback
    # for an epoch whose shuffled order the greedy cannot fill.
    first_batches = {key: _next_batch(deque(_fewest_clashes_first(groups[key])), batch_size)[0]
                     for key in sorted(groups)}
    witnesses = {key: batch for key, batch in first_batches.items() if len(batch) == batch_size}
    if not witnesses:
        split = "number of hard negatives" + (" and by task type" if same_task_type else "")
        found = max((len(b) for b in first_batches.values()), default=0)
        raise ValueError(f"batch_size {batch_size} is larger than the data can fill: {len(pairs)} pairs, split by "
                         f"{split}, give no group {batch_size} pairs with distinct queries and documents "
                         f"(found at most {found}); lower --batch-size")
    carried: dict[tuple[int, str], list[Pair]] = {key: [] for key in witnesses}
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
