"""False-negative masking over the gathered batch: two gloo workers, where rank 1 holds a copy of
rank 0's first positive as a hard negative. Each worker's masked loss and embedding gradients
must equal the single-process masked loss of the union batch (and its slice of the gradients),
so the copy is masked for rank 0's query although it sits on another worker."""

from __future__ import annotations

import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from infra.services.process import free_port
from tasks.train.info_nce import global_info_nce_loss, info_nce_loss

WORLD_SIZE, LOCAL_BATCH, HIDDEN, MARGIN = 2, 3, 8, 0.01


def _union_batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(queries, positives, hard negatives) of 6 rows; hard negative 3 (rank 1's first) copies positive 0."""
    generator = torch.Generator().manual_seed(3)
    positives = torch.randn(6, HIDDEN, generator=generator, dtype=torch.float64)
    queries = positives + 0.3 * torch.randn(6, HIDDEN, generator=generator, dtype=torch.float64)
    negatives = torch.randn(6, HIDDEN, generator=generator, dtype=torch.float64)
    negatives[3] = positives[0]
    return queries, positives, negatives


def _local(tensor: torch.Tensor, rank: int) -> torch.Tensor:
    return tensor[rank * LOCAL_BATCH:(rank + 1) * LOCAL_BATCH]


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        queries, positives, negatives = _union_batch()
        q = _local(queries, rank).clone().requires_grad_()
        d = torch.cat([_local(positives, rank), _local(negatives, rank)]).requires_grad_()
        loss = global_info_nce_loss(q, d, false_negative_margin=MARGIN)
        loss.backward()
        torch.save({"loss": loss.detach(), "q_grad": q.grad, "d_grad": d.grad}, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_masking_across_workers_equals_the_single_process_masked_loss(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2]))  # spawned workers import this module
    mp.spawn(_worker, args=(free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=True)
    results = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(WORLD_SIZE)]

    queries, positives, negatives = (t.clone().requires_grad_() for t in _union_batch())
    expected = info_nce_loss(queries, torch.cat([positives, negatives]), false_negative_margin=MARGIN)
    expected.backward()
    unmasked = info_nce_loss(*(t.detach() for t in (queries, torch.cat([positives, negatives]))))
    assert expected < unmasked  # the cross-worker copy was masked
    for rank, result in enumerate(results):
        torch.testing.assert_close(result["loss"], expected.detach())
        torch.testing.assert_close(result["q_grad"], _local(queries.grad, rank))
        torch.testing.assert_close(result["d_grad"], torch.cat([_local(positives.grad, rank),
                                                                _local(negatives.grad, rank)]))
