"""Evaluation charts as PNG bytes: scores per task and model, passkey accuracy per length.

>>> png = scores_png([{"model": "a", "BibleRetrievalEnEs": 0.5}, {"model": "b", "BibleRetrievalEnEs": 0.2}])
>>> png[:4] == b"\\x89PNG"
True
"""

from __future__ import annotations

import numpy as np

from tasks.common.plots import figure_png, plt


def scores_png(rows: list[dict], title: str = "main score per task (higher is better)") -> bytes:
    """Grouped bars: one group per task, one bar per model. ``rows``: ``{"model": label, task: score, …}``."""
    tasks = [key for key in rows[0] if key != "model"]
    width = 0.8 / max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(max(6.0, 1.6 * len(tasks) + 2), 4), dpi=110)
    positions = np.arange(len(tasks))
    for i, row in enumerate(rows):
        values = [row.get(task) if isinstance(row.get(task), (int, float)) else np.nan for task in tasks]
        ax.bar(positions + (i - (len(rows) - 1) / 2) * width, values, width, label=row["model"])
    ax.set_xticks(positions, tasks, rotation=20, ha="right", fontsize=8)
    ax.set_ylabel("main score")
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    return figure_png(fig)


def passkey_png(results: dict[str, list[dict]]) -> bytes:
    """Top-1 passkey accuracy against context length, one line per model."""
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    for label, rows in results.items():
        ax.plot([r["length"] for r in rows], [r["accuracy"] for r in rows], marker="o", label=label)
    ax.set_xscale("log", base=2)
    ax.set_xlabel("context length (tokens)")
    ax.set_ylabel("top-1 accuracy")
    ax.set_ylim(-0.05, 1.05)
    ax.set_title("personalized passkey retrieval")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_png(fig)
