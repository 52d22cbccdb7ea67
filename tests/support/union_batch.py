"""One batch split over workers: the same union batch in every process, each rank's share, the same encoder.

What the cross-worker negative tests compare against a single process: gloo processes
(tests/train/test_distributed.py) and Ray Train workers (tests/train/test_ray_negatives.py).

>>> batch = union_batch()
>>> batch["q"].shape, local(batch["q"], 1).shape
(torch.Size([6, 5]), torch.Size([3, 5]))
"""

from __future__ import annotations

import torch

WORLD_SIZE, LOCAL_BATCH, NEGATIVES, HIDDEN, FEATURES = 2, 3, 1, 5, 4


def union_batch() -> dict[str, torch.Tensor]:
    """The whole batch, identical in every process: queries, positives, hard negatives, and raw features."""
    generator = torch.Generator().manual_seed(7)
    n = WORLD_SIZE * LOCAL_BATCH

    def randn(*shape):
        return torch.randn(*shape, generator=generator, dtype=torch.float64)

    return {"q": randn(n, HIDDEN), "pos": randn(n, HIDDEN), "neg": randn(n * NEGATIVES, HIDDEN),
            "xq": randn(n, FEATURES), "xpos": randn(n, FEATURES), "xneg": randn(n * NEGATIVES, FEATURES)}


def local(tensor: torch.Tensor, rank: int) -> torch.Tensor:
    """Rank ``rank``'s share of rows: an equal, contiguous slice."""
    per_rank = tensor.shape[0] // WORLD_SIZE
    return tensor[rank * per_rank:(rank + 1) * per_rank]


def make_encoder() -> torch.nn.Linear:
    """A small linear encoder with the same initial weights in every process, as DDP guarantees."""
    torch.manual_seed(0)
    return torch.nn.Linear(FEATURES, HIDDEN).double()
