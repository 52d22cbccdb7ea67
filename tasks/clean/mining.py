"""Hard negatives mined from the run itself, below a share of the positive's score.

Contrastive training learns most from negatives that are close but wrong. Short–short and
long–long rows have none, and one per row is little. So for each row, the teacher ranks the
run's documents of the same task type and language (every kept row's positive and negative) and
the best ones are taken as extra negatives — but only those scoring under ``score_ratio`` × the
positive's score (NV-Retriever's TopK-PercPos, 95 %; sentence-transformers' ``mine_hard_negatives``
with ``relative_margin=0.05``): a document scoring nearly as well as the positive is more likely
an unlabelled second positive than a negative. Never the positive itself, the row's own negative,
or a near copy of the positive (shingle Jaccard ≥ :data:`NEAR_COPY`, the shingles of
:mod:`tasks.clean.near_dup`).

Rows are the ones the run keeps (after the drop filters): a dropped row's text — contaminated,
say — must not come back as someone's negative. The result is one file of the run,
``example_id`` and ``negatives`` (list of str, best first), that readers join as the column
``mined_negatives`` (:func:`tasks.runs.parts.scan_run`); training uses the row's own negative first,
then these.

    mined = mine_negatives(kept_rows, RunVectors(store, "r1", load_teacher("e5-small")), per_query=3)
"""

from __future__ import annotations

import io
import time

import numpy as np
import polars as pl

from tasks.clean.embedding_cache import RunVectors
from tasks.clean.meaning import document_role, group_documents
from tasks.clean.minhash_lsh import ShingleSets, jaccard
from tasks.clean.near_dup import shingle_views
from tasks.clean.neighbours import best_below
from tasks.runs.manifest import FilterEntry, Manifest
from tasks.runs.verdicts import filter_path
from tasks.storage.store import Store

PER_QUERY = 3
SCORE_RATIO = 0.95
NEAR_COPY = 0.9  # shingle Jaccard with the positive from which a candidate counts as the positive itself
SPARE = 8  # candidates fetched beyond per_query, for those the exclusions remove
MINED_SCHEMA = {"example_id": pl.String, "negatives": pl.List(pl.String)}


def mine_negatives(rows: pl.DataFrame, vectors: RunVectors, per_query: int = PER_QUERY,
                   score_ratio: float = SCORE_RATIO) -> pl.DataFrame:
    """Up to ``per_query`` mined negatives per row: ``example_id``, ``negatives`` (rows that got none are left out).

    Args:
        rows: the rows the run keeps (``example_id``, ``task_type``, ``language``, ``query``,
            ``positive``, ``negative``).
        vectors: the teacher's vectors, cached in the run.
        per_query: negatives per row at most (0: none).
        score_ratio: a candidate must score under this share of the positive's score.
    """
    found = [pl.DataFrame(schema=MINED_SCHEMA)]
    if per_query > 0:
        for group in rows.partition_by(["task_type", "language"], maintain_order=True):
            found.append(_mine_group(group, vectors, per_query, score_ratio))
    return pl.concat(found).sort("example_id")


def _mine_group(group: pl.DataFrame, vectors: RunVectors, per_query: int, score_ratio: float) -> pl.DataFrame:
    role = document_role(group["task_type"][0])
    documents = group_documents(group)
    at = {text: i for i, text in enumerate(documents)}
    positive_at = np.array([at[t] for t in group["positive"]], dtype=np.int64)
    negative_at = np.array([at.get(t, -1) if t is not None else -1 for t in group["negative"]], dtype=np.int64)
    queries, docs = vectors.of(group["query"], "query"), vectors.of(documents, role)
    positive = np.einsum("ij,ij->i", queries, docs[positive_at])
    candidates, _ = best_below(queries, docs, score_ratio * positive, per_query + SPARE)
    copies = NearCopies(documents, group["language"][0] if group["task_type"][0] != "bitext" else None)
    ids, mined = [], []
    for row, row_candidates in enumerate(candidates):
        chosen: list[str] = []
        for j in row_candidates:
            if j < 0 or len(chosen) == per_query:
                break
            if j in (positive_at[row], negative_at[row]) or copies.similar(positive_at[row], j):
                continue
            chosen.append(documents[j])
        if chosen:
            ids.append(group["example_id"][row])
            mined.append(chosen)
    return pl.DataFrame({"example_id": ids, "negatives": mined}, schema=MINED_SCHEMA)


class NearCopies:
    """Whether two of a group's documents are near copies: shingle Jaccard ≥ :data:`NEAR_COPY` in a
    shingle space both belong to (word 3-grams, character 5-grams…: :func:`tasks.clean.near_dup.shingle_views`)."""

    def __init__(self, documents: list[str], language: str | None) -> None:
        languages = None if language is None else pl.Series([language] * len(documents))
        self.spaces = [ShingleSets(view) for view in shingle_views(pl.Series(documents, dtype=pl.String), languages)]

    def similar(self, i: int, j: int) -> bool:
        return any(space.view[i] is not None and space.view[j] is not None and jaccard(space[i], space[j]) >= NEAR_COPY
                   for space in self.spaces)


def write_mined(store: Store, manifest: Manifest, name: str, mined: pl.DataFrame, rows: pl.DataFrame, started: float,
                details: dict | None = None) -> FilterEntry:
    """Write the mined negatives (a new file beside the verdicts) and describe them as an ``add`` entry:
    rows given negatives, negatives in all, and rows that had no negative of their own, overall and per shard."""
    path = filter_path(store, manifest.run_id, name)
    buffer = io.BytesIO()
    mined.write_parquet(buffer, compression="zstd")
    store.write_bytes(path, buffer.getvalue())
    per_row = mined.join(rows.select("example_id", "task_type", "language", "negative"), on="example_id", how="left")
    tallies = {"rows_given_negatives": pl.len(), "negatives_mined": pl.col("negatives").list.len().sum(),
               "rows_given_a_first_negative": pl.col("negative").is_null().sum()}
    counts = {k: int(v) for k, v in per_row.select(**tallies).row(0, named=True).items()}
    by_shard = {f"{row.pop('task_type')}/{row.pop('language')}": {k: int(v) for k, v in row.items()}
                for row in per_row.group_by("task_type", "language").agg(**tallies).iter_rows(named=True)}
    return FilterEntry(path=path, action="add", rows_checked=rows.height, counts=counts, by_shard=by_shard,
                       details=details or {}, seconds=round(time.perf_counter() - started, 2))
