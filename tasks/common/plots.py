"""Training curves as PNG bytes (matplotlib, no display needed).

>>> png = loss_curve_png([{"step": 1, "loss": 2.0}, {"step": 2, "loss": 1.5}])
>>> png[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
True
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # files only: no display on servers and CI
import matplotlib.pyplot as plt  # noqa: E402


def loss_curve_png(history: list[dict], title: str = "training loss") -> bytes:
    """Loss per step, the held-out loss where it was measured, and the learning rate on a second axis when present."""
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=110)
    steps = [m["step"] for m in history]
    ax.plot(steps, [m["loss"] for m in history], marker="o", markersize=3, label="InfoNCE loss")
    if evaluated := [m for m in history if "heldout_loss" in m]:
        ax.plot([m["step"] for m in evaluated], [m["heldout_loss"] for m in evaluated], marker="s", markersize=3,
                color="tab:red", label="held-out loss")
        ax.legend(loc="upper right", fontsize="small")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if history and "lr" in history[0]:
        lr_axis = ax.twinx()
        lr_axis.plot(steps, [m["lr"] for m in history], color="tab:gray", linestyle="--", label="learning rate")
        lr_axis.set_ylabel("learning rate")
    return figure_png(fig)


def figure_png(fig) -> bytes:
    """A finished figure as PNG bytes; the figure is closed (pyplot keeps every open one alive)."""
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()
