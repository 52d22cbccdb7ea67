"""How many different tasks a run really has: near-duplicate brainstormed task definitions.

Each shard brainstorms its own task list, so across 93 languages the same idea comes back
as "Given a medical question, retrieve passages from clinical guidelines that answer it" and
"Given a medical question, find passages of clinical guidelines answering it". Rows of such
tasks are still distinct examples and stay; this module only *reports* how much diversity
the task pool lost, per task type (brainstormed types only: sts and bitext have fixed tasks).

Task definitions are compared like queries (:func:`tasks.clean.near_dup.duplicates_in`: exact
match after normalisation, then shingle Jaccard), ordered by the first ``example_id`` that
uses them, so a group's representative is the definition that appeared first. The default
threshold, 0.7, is lower than for queries: a reworded definition of the same task keeps most
of its character 5-grams, while two different tasks of one type rarely share more than half.

>>> rows = pl.DataFrame({"example_id": ["1", "2", "3"], "task_type": ["retrieval"] * 3, "language": ["en", "de", "en"],
...     "task": ["Given a recipe name, retrieve recipes.", "given a recipe name retrieve recipes",
...              "Given a bug report, find the commit that fixed it."]})
>>> task_diversity_summary(task_duplicate_groups(rows)).rows()
[('retrieval', 3, 2, 1)]
"""

from __future__ import annotations

import polars as pl

from tasks.clean.minhash_lsh import DEFAULT_LIBRARY, DEFAULT_NUM_PERM, Library
from tasks.clean.near_dup import duplicates_in
from tasks.runs.schema import FIXED_TASK_TYPES, TaskType

TASK_THRESHOLD = 0.7
BRAINSTORMED = tuple(t.value for t in TaskType if t not in FIXED_TASK_TYPES)


def task_duplicate_groups(
    frame: pl.DataFrame,
    threshold: float = TASK_THRESHOLD,
    num_perm: int = DEFAULT_NUM_PERM,
    library: Library = DEFAULT_LIBRARY,
) -> pl.DataFrame:
    """One line per distinct task definition of a brainstormed type: ``task_type``, ``task``,
    ``representative`` (the group's first definition; itself when kept), ``rows``, ``languages``.

    Definitions are compared within a task type, across every language and shard.
    """
    usage = (
        frame.filter(pl.col("task_type").is_in(BRAINSTORMED) & pl.col("task").is_not_null())
        .group_by("task_type", "task")
        .agg(first=pl.col("example_id").min(), rows=pl.len(), languages=pl.col("language").n_unique())
        .sort("task_type", "first", "task")
    )
    groups = []
    for part in usage.partition_by("task_type", maintain_order=True):
        of = duplicates_in(part["task"], None, threshold, num_perm, library)
        tasks = part["task"]
        representative = [tasks[int(j)] if j >= 0 else tasks[i] for i, j in enumerate(of)]
        groups.append(part.with_columns(representative=pl.Series(representative, dtype=pl.String)))
    schema = {
        "task_type": pl.String,
        "task": pl.String,
        "representative": pl.String,
        "rows": pl.UInt32,
        "languages": pl.UInt32,
    }
    if not groups:
        return pl.DataFrame(schema=schema)
    return pl.concat(groups).select(list(schema))


def task_diversity_summary(groups: pl.DataFrame) -> pl.DataFrame:
    """Per task type: ``distinct_tasks`` before, ``after_dedup`` (groups), and ``duplicate_tasks``."""
    return (
        groups.group_by("task_type")
        .agg(distinct_tasks=pl.len(), after_dedup=pl.col("representative").n_unique())
        .with_columns(duplicate_tasks=pl.col("distinct_tasks") - pl.col("after_dedup"))
        .sort("task_type")
    )
