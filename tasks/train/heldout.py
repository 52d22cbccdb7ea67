"""The held-out loss, and early stopping on it: does training still generalise, or memorise?

Rows held out of training (:func:`tasks.train.data.split_holdout`) are scored every
``eval_every`` steps without gradients: cut into chunks of about ``batch_size`` pairs, each
query is scored against its chunk's positives and hard negatives, exactly the contrastive
problem training solves (InfoNCE at the training temperature), so the held-out loss reads on
the training loss's scale. Also reported: top-1 accuracy, the share of queries whose own
positive scores highest in their chunk. Each worker scores every W-th chunk and the sums are
all-reduced, so every rank holds the same numbers and takes the same early-stopping decision
without a broadcast.

:class:`EarlyStopping` stops when the held-out loss has not improved for ``patience``
evaluations and keeps the best weights (trainable ones: the LoRA adapter, megabytes), which
the loop restores before exporting: the steps after the best one are the memorising ones
early stopping exists to undo. Its state travels with every checkpoint, so a resumed run
knows its best so far.

>>> stopping = EarlyStopping(patience=2)
>>> [stopping.update(loss, step) for step, loss in enumerate([3.0, 2.0, 2.5, 2.1], start=1)], stopping.stop
([True, True, False, False], True)
>>> stopping.best_loss, stopping.best_step
(2.0, 2)
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from tasks.train.collectives import all_reduce_sum
from tasks.train.data import Pair
from tasks.train.pooling import l2_normalize

STOPPING_FILE = "early_stopping.json"
BEST_WEIGHTS_FILE = "best_weights.pt"
EmbedTexts = Callable[[list[str]], torch.Tensor]  # texts -> (n, H) embeddings, no grad


def heldout_chunks(pairs: list[Pair], batch_size: int) -> list[list[Pair]]:
    """``pairs`` cut, in order, into ``len // batch_size`` chunks (at least one) of near-equal size.

    >>> [len(c) for c in heldout_chunks([Pair(f"q{i}", f"p{i}") for i in range(10)], batch_size=4)]
    [5, 5]
    """
    count = max(1, len(pairs) // batch_size)
    bounds = [round(i * len(pairs) / count) for i in range(count + 1)]
    return [pairs[a:b] for a, b in zip(bounds, bounds[1:])]


def chunk_sums(q: torch.Tensor, d: torch.Tensor, temperature: float) -> tuple[float, int]:
    """(sum of InfoNCE losses, queries ranked first) of ``q`` (B, H) against ``d``, whose first B rows are
    the positives (row i: query i's), the rest negatives of any query."""
    scores = l2_normalize(q.float()) @ l2_normalize(d.float()).T / temperature  # (B, D)
    targets = torch.arange(q.shape[0], device=q.device)
    loss = F.cross_entropy(scores, targets, reduction="sum")
    return float(loss), int((scores.argmax(dim=1) == targets).sum())


def heldout_metrics(embed_texts: EmbedTexts, pairs: list[Pair], batch_size: int, temperature: float,
                    rank: int = 0, world_size: int = 1, device: torch.device = torch.device("cpu")) -> dict[str, float]:
    """``heldout_loss`` (mean InfoNCE per held-out query) and ``heldout_accuracy`` (top-1 in its chunk),
    the same on every rank (sums all-reduced on ``device``)."""
    loss, correct = 0.0, 0
    for chunk in heldout_chunks(pairs, batch_size)[rank::world_size]:
        q = embed_texts([p.query for p in chunk])
        d = embed_texts([p.positive for p in chunk] + [n for p in chunk for n in p.negatives])
        chunk_loss, chunk_correct = chunk_sums(q, d, temperature)
        loss, correct = loss + chunk_loss, correct + chunk_correct
    totals = all_reduce_sum(torch.tensor([loss, float(correct)], dtype=torch.float64, device=device), device)
    return {"heldout_loss": float(totals[0]) / len(pairs), "heldout_accuracy": float(totals[1]) / len(pairs)}


@dataclass
class EarlyStopping:
    """The best held-out loss so far, and whether ``patience`` evaluations have passed without beating it.

    ``patience`` None: never stop (the best is still tracked and logged).
    """

    patience: int | None
    best_loss: float = math.inf
    best_step: int = 0
    evaluations_since_best: int = 0
    best_weights: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    def update(self, loss: float, step: int, weights: Callable[[], dict[str, torch.Tensor]] | None = None) -> bool:
        """Record an evaluation; True when it is the best so far (``weights()`` is then kept, on the CPU)."""
        if loss < self.best_loss:
            self.best_loss, self.best_step, self.evaluations_since_best = loss, step, 0
            if weights is not None:
                self.best_weights = {k: v.detach().to("cpu", copy=True) for k, v in weights().items()}
            return True
        self.evaluations_since_best += 1
        return False

    @property
    def stop(self) -> bool:
        return self.patience is not None and self.evaluations_since_best >= self.patience

    def save(self, folder: str | Path) -> None:
        """Into a checkpoint folder: the counters as JSON, the best weights beside them."""
        state = {k: v for k, v in asdict(self).items() if k != "best_weights"}
        Path(folder, STOPPING_FILE).write_text(json.dumps(state))
        if self.best_weights is not None:
            torch.save(self.best_weights, Path(folder, BEST_WEIGHTS_FILE))

    @classmethod
    def load(cls, folder: str | Path | None, patience: int | None) -> EarlyStopping:
        """The state :meth:`save` wrote, or a fresh one (no folder, or a checkpoint from before it)."""
        if folder is None or not Path(folder, STOPPING_FILE).is_file():
            return cls(patience)
        state = json.loads(Path(folder, STOPPING_FILE).read_text())
        weights = Path(folder, BEST_WEIGHTS_FILE)
        best = torch.load(weights, map_location="cpu", weights_only=True) if weights.is_file() else None
        return cls(patience, state["best_loss"], state["best_step"], state["evaluations_since_best"], best)
