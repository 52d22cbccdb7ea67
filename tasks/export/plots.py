"""The dataset card's charts as PNG bytes (matplotlib, Agg): languages, text lengths, task diversity.

* ``languages.png``: rows per language, stacked by task type: is the language mix the one
  asked for (E5-mistral: English-dominant, a long tail of 90 others)?
* ``lengths.png``: query and positive lengths in characters, one curve per task type, on a
  log axis: a classification label is a few characters, a long_long document thousands, and
  a task type whose curve sits where another's should is a prompt or parsing fault.
* ``task_diversity.png``: distinct task definitions per task type, and the share of its rows
  the 10 most frequent cover. Brainstormed task types should have many definitions; sts and
  bitext use fixed ones by design (one per language pair for bitext).

>>> import polars as pl
>>> from tasks.runs.profile import profile_rows
>>> p = profile_rows(pl.LazyFrame({"task_type": ["sts"], "language": ["en"], "task": ["t"], "query": ["q"],
...                                "positive": ["p"], "template_id": ["s"], "model": ["m"], "placeholders": ["{}"]}))
>>> all(png[:4] == b"\\x89PNG" for png in (languages_png(p), lengths_png(p), task_diversity_png(p)))
True
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tasks.common.plots import figure_png, plt
from tasks.runs.profile import TOP_TASKS, Profile


def languages_png(profile: Profile) -> bytes:
    """Bars of rows per language (most first), each stacked by task type."""
    totals = profile.rows_by("language")
    languages = sorted(totals, key=lambda code: (-totals[code], code))
    fig, ax = plt.subplots(figsize=(min(max(5.0, 0.2 * len(languages) + 2), 24), 4), dpi=110)
    positions = np.arange(len(languages))
    bottom = np.zeros(len(languages))
    for task_type in profile.task_types:
        heights = np.array([profile.count(task_type, code) for code in languages], dtype=float)
        ax.bar(positions, heights, bottom=bottom, label=task_type, width=0.8)
        bottom += heights
    ax.set_xticks(positions, languages, rotation=90 if len(languages) > 20 else 0, fontsize=8)
    ax.set_xlim(-0.6, len(languages) - 0.4)
    ax.set_xlabel("language (ISO 639-1; bitext rows under their shard's language)")
    ax.set_ylabel("rows")
    ax.yaxis.get_major_locator().set_params(integer=True)
    ax.set_title(f"rows per language ({profile.rows} rows, {len(languages)} languages)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncols=min(len(profile.task_types), 6))
    return figure_png(fig)


def lengths_png(profile: Profile) -> bytes:
    """Histograms of query and positive length in characters, one step curve per task type (log-x)."""
    lengths = profile.lengths
    shortest = max(1, min(int(lengths["query_chars"].min() or 1), int(lengths["positive_chars"].min() or 1)))
    longest = max(int(lengths["query_chars"].max() or 1), int(lengths["positive_chars"].max() or 1), shortest + 1)
    bins = np.logspace(np.log10(shortest * 0.95), np.log10(longest * 1.05), 40)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110, sharey=True)
    for ax, column, title in zip(axes, ("query_chars", "positive_chars"), ("query", "positive")):
        for task_type in profile.task_types:
            values = lengths.filter(lengths["task_type"] == task_type)[column].drop_nulls().to_numpy()
            if values.size:
                ax.hist(np.maximum(values, 1), bins=bins, histtype="step", linewidth=1.4,
                        label=f"{task_type} (median {int(np.median(values))})")
        ax.set_xscale("log")
        ax.set_xlabel("characters")
        ax.set_title(f"{title} length")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    axes[0].set_ylabel("rows")
    axes[0].yaxis.get_major_locator().set_params(integer=True)
    return figure_png(fig)


def task_diversity_png(profile: Profile, top: int = TOP_TASKS) -> bytes:
    """Distinct task definitions per task type (left) and the share of rows its ``top`` most frequent cover (right)."""
    table = profile.diversity(top)
    names = [row["task_type"] for row in table]
    positions = np.arange(len(names))
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8), dpi=110)
    bars = left.bar(positions, [row["distinct_tasks"] for row in table], color="tab:blue")
    left.bar_label(bars, labels=[f"{row['distinct_tasks']}/{row['rows']}" for row in table], fontsize=7)
    left.set_title("distinct task definitions (labels: distinct/rows)")
    left.set_ylabel("task definitions")
    left.yaxis.get_major_locator().set_params(integer=True)
    bars = right.bar(positions, [100 * row["top_share"] for row in table], color="tab:orange")
    right.bar_label(bars, fmt="%.0f%%", fontsize=7)
    right.set_ylim(0, 110)
    right.set_title(f"rows covered by the {top} most frequent definitions")
    right.set_ylabel("% of rows")
    for ax in (left, right):
        ax.set_xticks(positions, names, rotation=20, ha="right", fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    return figure_png(fig)


CHARTS = {  # file under plots/ -> (title in the card, how it is drawn)
    "languages.png": ("rows per language", languages_png),
    "lengths.png": ("query and positive lengths in characters", lengths_png),
    "task_diversity.png": ("task definitions per task type", task_diversity_png),
}


def write_charts(profile: Profile, folder: Path) -> dict[str, str]:
    """Draw every chart into ``folder/plots/``; return title -> path relative to ``folder``."""
    (folder / "plots").mkdir(parents=True, exist_ok=True)
    written = {}
    for name, (title, draw) in CHARTS.items():
        (folder / "plots" / name).write_bytes(draw(profile))
        written[title] = f"plots/{name}"
    return written
