"""The training loop's all-reduces, with their tensors on the training device.

NCCL (Ray Train's backend with ``use_gpu``) reduces CUDA tensors only: a CPU tensor raises on
the first step, which no CPU test would notice. Every collective here therefore checks the
device first, and the same check runs on the CPU (gloo), so a tensor built on the wrong device
fails the CPU tests too:

>>> all_reduce_sum(torch.ones(2), device=torch.device("cuda", 0))
Traceback (most recent call last):
...
ValueError: all_reduce needs its tensor on cuda:0 (the training device), got cpu

Outside ``torch.distributed`` (one process) they return their input unchanged.
"""

from __future__ import annotations

import functools

import torch
import torch.distributed as dist

from tasks.train.gather import is_distributed


def check_device(tensor: torch.Tensor, device: torch.device, what: str = "all_reduce") -> None:
    if tensor.device != torch.device(device):
        raise ValueError(f"{what} needs its tensor on {device} (the training device), got {tensor.device}")


def all_reduce_sum(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """Sum ``tensor`` over all workers in place (and return it); it must be on ``device``."""
    check_device(tensor, device)
    if is_distributed():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def sum_gradients(params: list[torch.Tensor], device: torch.device) -> None:
    """Add up the workers' gradients (one flat all_reduce on ``device``).

    Each worker's backward gives the gradient from its own embeddings of the *global* loss,
    so the union batch's gradient is the sum, not DDP's mean (see global_info_nce_loss).
    """
    if not is_distributed():
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = all_reduce_sum(torch.cat([g.reshape(-1) for g in grads]), device)
    for p, chunk in zip(params, flat.split([g.numel() for g in grads])):
        p.grad = chunk.view_as(p)


def count_tokens(inputs: list[dict[str, torch.Tensor]], device: torch.device) -> torch.Tensor:
    """Real (unpadded) tokens of this worker's inputs, summed over all workers, as a tensor on ``device``."""
    local = sum(int(batch["attention_mask"].sum()) for batch in inputs)
    return all_reduce_sum(torch.tensor(float(local), dtype=torch.float64, device=device), device)


def broadcast_from_rank0(params: list[torch.Tensor], device: torch.device) -> None:
    """Overwrite every worker's ``params`` with rank 0's (one flat broadcast on ``device``), in place.

    At the start of training, so that replicas start equal whatever each worker's initialisation
    drew; afterwards the summed gradients keep them equal.
    """
    if not is_distributed() or not params:
        return
    with torch.no_grad():
        dtype = functools.reduce(torch.promote_types, (p.dtype for p in params))  # exact for every param
        flat = torch.cat([p.detach().reshape(-1).to(dtype) for p in params])
        check_device(flat, device, "broadcast")
        dist.broadcast(flat, src=0)
        for p, chunk in zip(params, flat.split([p.numel() for p in params])):
            p.copy_(chunk.view_as(p))
