"""A benchmark's aggregate, as mteb's leaderboard computes it: the mean main score per task type,
the mean over tasks ("Mean (Task)") and the mean of the type means ("Mean (TaskType)").

A model missing a task gets no means (the leaderboard leaves them blank rather than average
over fewer tasks), so a partial run is never compared with a complete one.

>>> rows = aggregate_rows([{"label": "m", "scores": {"A": 0.5, "B": 0.7, "C": 0.9}}],
...                       {"A": "Retrieval", "B": "Retrieval", "C": "STS"})
>>> rows[0]["Retrieval"], rows[0]["STS"], rows[0]["mean (task)"], rows[0]["mean (task type)"]
(0.6, 0.9, 0.7, 0.75)
"""

from __future__ import annotations

from statistics import fmean


def aggregate_rows(results: list[dict], task_types: dict[str, str]) -> list[dict]:
    """One row per model: its mean per task type (in order of first appearance) and the two means.

    ``results``: ``{"label", "scores": {task: main score}}`` per model; ``task_types``: task -> type,
    for every task of the benchmark run.
    """
    types = list(dict.fromkeys(task_types.values()))
    rows = []
    for result in results:
        scores = result["scores"]
        row: dict = {"model": result["label"]}
        complete = all(task in scores for task in task_types)
        by_type = {kind: [scores[t] for t, k in task_types.items() if k == kind and t in scores] for kind in types}
        for kind in types:
            row[kind] = round(fmean(by_type[kind]), 4) if complete and by_type[kind] else None
        row["mean (task)"] = round(fmean(scores[t] for t in task_types), 4) if complete else None
        row["mean (task type)"] = round(fmean(fmean(v) for v in by_type.values()), 4) if complete else None
        rows.append(row)
    return rows
