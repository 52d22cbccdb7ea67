"""Gather embeddings from every worker, keeping autograd on this worker's own part.

``torch.distributed.all_gather`` returns copies without a graph. Putting the local tensor back
in its own slot makes the gathered tensor differentiable with respect to the local rows, which
is all a worker can backpropagate into its own model replica. The other workers' rows act as
constants (extra negatives). What this means for the loss and its scaling is in
:func:`tasks.train.info_nce.global_info_nce_loss`.

Outside ``torch.distributed`` (one process) it is the identity:

>>> x = torch.ones(2, 3, requires_grad=True)
>>> gather_with_grad(x) is x
True
"""

from __future__ import annotations

import torch
import torch.distributed as dist


def is_distributed() -> bool:
    """True inside an initialised ``torch.distributed`` process group."""
    return dist.is_available() and dist.is_initialized()


def rank_and_world_size() -> tuple[int, int]:
    """This worker's rank and the number of workers; ``(0, 1)`` in a single process."""
    if not is_distributed():
        return 0, 1
    return dist.get_rank(), dist.get_world_size()


def gather_with_grad(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` from all ranks along dim 0, in rank order; gradients reach the local rows.

    Every rank must pass the same shape (``all_gather`` cannot gather ragged batches).
    (B, ...) on each of W ranks -> (W * B, ...), rows ``rank * B : (rank + 1) * B`` being ``tensor``.
    """
    if not is_distributed():
        return tensor
    rank, world_size = rank_and_world_size()
    gathered = [torch.empty_like(tensor) for _ in range(world_size)]
    dist.all_gather(gathered, tensor.contiguous())
    gathered[rank] = tensor  # the copy has no graph; the original does
    return torch.cat(gathered, dim=0)
