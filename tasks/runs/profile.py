"""What an export holds, as small aggregate tables: the card's numbers and the plots' data.

Computed with lazy polars queries over the run's Parquet, so a million-row run is profiled
without its texts in memory: only counts, lengths (one integer per text) and the distinct task
definitions are collected.

Lengths are in characters, not words or tokens: characters mean the same in every script
(Chinese or Thai have no spaces between words, and token counts depend on a tokenizer).

>>> rows = pl.LazyFrame({"task_type": ["sts", "sts", "bitext"], "language": ["en", "es", "en"],
...                      "task": ["t1", "t1", "t2"], "query": ["ab", "abc", "x"], "positive": ["p", "pp", "y"],
...                      "template_id": ["sts.v1"] * 2 + ["bitext.v1"], "model": ["m"] * 3,
...                      "placeholders": ['{}', '{}', '{"src_code": "en", "tgt_code": "fr"}']})
>>> p = profile_rows(rows)
>>> p.rows, p.task_types, p.languages, p.all_languages
(3, ['sts', 'bitext'], ['en', 'es'], ['en', 'es', 'fr'])
>>> p.rows_by("language")
{'en': 2, 'es': 1}
>>> p.diversity()[0]
{'task_type': 'sts', 'rows': 2, 'distinct_tasks': 1, 'top_share': 1.0}
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tasks.language.languages import LANGUAGES
from tasks.runs.schema import TaskType

ORDER = {t.value: i for i, t in enumerate(TaskType)}  # retrieval, classification, ..., bitext
TOP_TASKS = 10  # "how much of a task type do its 10 most frequent task definitions cover"


@dataclass(frozen=True)
class Profile:
    """Aggregates of the exported rows.

    Attributes:
        counts: ``task_type, language, rows``.
        lengths: ``task_type, query_chars, positive_chars``, one row per example.
        tasks: ``task_type, task, rows``: how often each task definition was used.
        templates: ``template_id, rows``.
        models: the generator names found on the rows.
        pair_languages: languages that occur only as a bitext translation target.
    """

    counts: pl.DataFrame
    lengths: pl.DataFrame
    tasks: pl.DataFrame
    templates: pl.DataFrame
    models: list[str]
    pair_languages: list[str]

    @property
    def rows(self) -> int:
        return int(self.counts["rows"].sum())

    @property
    def task_types(self) -> list[str]:
        """The task types present, in the order of :class:`TaskType`."""
        return sorted(self.counts["task_type"].unique().to_list(), key=lambda t: (ORDER.get(t, len(ORDER)), t))

    @property
    def languages(self) -> list[str]:
        """The row languages (for bitext: the shard's language, which is S1's or S2's)."""
        return sorted(self.counts["language"].unique().to_list())

    @property
    def all_languages(self) -> list[str]:
        """Every language a text of the dataset is written in (bitext targets included)."""
        return sorted({*self.languages, *self.pair_languages})

    def rows_by(self, column: str) -> dict[str, int]:
        frame = self.counts.group_by(column).agg(pl.col("rows").sum()).sort(column)
        return dict(zip(frame[column].to_list(), frame["rows"].to_list()))

    def count(self, task_type: str, language: str) -> int:
        hit = self.counts.filter((pl.col("task_type") == task_type) & (pl.col("language") == language))
        return int(hit["rows"].sum())

    def diversity(self, top: int = TOP_TASKS) -> list[dict]:
        """Per task type: rows, distinct task definitions, and the share of rows its ``top`` most frequent cover."""
        table = []
        for task_type in self.task_types:
            used = self.tasks.filter(pl.col("task_type") == task_type).sort("rows", descending=True)
            total = int(used["rows"].sum())
            table.append({"task_type": task_type, "rows": total, "distinct_tasks": used.height,
                          "top_share": round(int(used["rows"].head(top).sum()) / total, 4) if total else 0.0})
        return table


def profile_rows(rows: pl.LazyFrame) -> Profile:
    """Count, measure and list what ``rows`` (the exported columns) hold, in one pass of queries."""
    counts, lengths, tasks, templates, models, pairs = pl.collect_all([
        rows.group_by("task_type", "language").agg(pl.len().cast(pl.Int64).alias("rows")).sort("task_type", "language"),
        rows.select("task_type", pl.col("query").str.len_chars().alias("query_chars"),
                    pl.col("positive").str.len_chars().alias("positive_chars")),
        rows.group_by("task_type", "task").agg(pl.len().cast(pl.Int64).alias("rows")),
        rows.group_by("template_id").agg(pl.len().cast(pl.Int64).alias("rows")).sort("template_id"),
        rows.select(pl.col("model").unique().sort()),
        rows.select(pl.concat([pl.col("placeholders").str.json_path_match(f"$.{side}_code") for side in ("src", "tgt")])
                    .drop_nulls().unique()),
    ])
    languages = set(counts["language"].to_list())
    return Profile(counts=counts, lengths=lengths, tasks=tasks, templates=templates,
                   models=[m for m in models["model"].to_list() if m],
                   pair_languages=sorted(set(pairs.to_series().to_list()) - languages))


def count_table(profile: Profile) -> list[dict]:
    """Rows per language × task type, with totals (the dataset card's and the model card's table)."""
    rows = []
    for code in profile.languages:
        row = {"language": f"{code} ({LANGUAGES[code][0]})" if code in LANGUAGES else code}
        row.update({t: profile.count(t, code) for t in profile.task_types})
        row["total"] = sum(row[t] for t in profile.task_types)
        rows.append(row)
    by_type = profile.rows_by("task_type")
    rows.append({"language": "**total**", **{t: by_type[t] for t in profile.task_types}, "total": profile.rows})
    return rows
