"""Negatives gathered across workers: two gloo processes reproduce the single-process union batch.

Each of two workers holds half of a batch (its queries, their positives, their hard
negatives). The gathered loss must equal the single-process loss of the union batch, each
worker's embedding gradients must be its slice of the single-process gradient, and with the
DDP convention (gradients averaged over workers, so each worker backpropagates
``loss * world_size``) the parameter gradients of a GradCache step must equal the
single-process ones.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from infra.services.process import free_port
from tasks.train.gather import gather_with_grad, rank_and_world_size
from tasks.train.grad_cache import grad_cache_step
from tasks.train.info_nce import global_info_nce_loss, info_nce_loss
from tests.support.union_batch import LOCAL_BATCH, WORLD_SIZE, local, make_encoder, union_batch


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)  # two workers on two cores
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        batch = union_batch()
        # Given this worker's embeddings as leaves, the gathered loss and their gradients.
        q = local(batch["q"], rank).clone().requires_grad_()
        d = torch.cat([local(batch["pos"], rank), local(batch["neg"], rank)]).requires_grad_()
        loss = global_info_nce_loss(q, d)
        loss.backward()

        # A GradCache step of an encoder under the DDP convention: loss * world_size, then average.
        encoder = make_encoder()
        _, world_size = rank_and_world_size()
        queries = {"x": local(batch["xq"], rank)}
        documents = {"x": torch.cat([local(batch["xpos"], rank), local(batch["xneg"], rank)])}
        grad_cache_step(lambda inputs: encoder(inputs["x"]), queries, documents, mini_batch_size=2,
                        loss_fn=lambda q_, d_: global_info_nce_loss(q_, d_) * world_size)
        for parameter in encoder.parameters():  # what DDP's all-reduce does
            dist.all_reduce(parameter.grad)
            parameter.grad /= world_size

        torch.save({"loss": loss.detach(), "q_grad": q.grad, "d_grad": d.grad,
                    "encoder_grads": [p.grad for p in encoder.parameters()],
                    "rank_and_world_size": rank_and_world_size()}, Path(out_dir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def worker_results(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("gloo")
    with pytest.MonkeyPatch.context() as patch:
        # Spawned workers import this module by name: give them the repository root on sys.path
        # (`python -m pytest` has it already, the `pytest` script does not).
        patch.syspath_prepend(str(Path(__file__).resolve().parents[2]))
        mp.spawn(_worker, args=(free_port(), str(out_dir)), nprocs=WORLD_SIZE, join=True)
    return [torch.load(out_dir / f"rank{rank}.pt") for rank in range(WORLD_SIZE)]


@pytest.fixture(scope="module")
def single_process():
    """The union batch in one process: loss, embedding gradients, and the encoder's parameter gradients."""
    batch = union_batch()
    q, pos, neg = (batch[k].clone().requires_grad_() for k in ("q", "pos", "neg"))
    loss = info_nce_loss(q, torch.cat([pos, neg]))
    loss.backward()
    encoder = make_encoder()
    info_nce_loss(encoder(batch["xq"]), encoder(torch.cat([batch["xpos"], batch["xneg"]]))).backward()
    return {"loss": loss.detach(), "q": q.grad, "pos": pos.grad, "neg": neg.grad,
            "encoder_grads": [p.grad for p in encoder.parameters()]}


def test_workers_see_the_process_group(worker_results):
    assert [r["rank_and_world_size"] for r in worker_results] == [(0, 2), (1, 2)]


def test_every_worker_reports_the_union_batch_loss(worker_results, single_process):
    for result in worker_results:
        torch.testing.assert_close(result["loss"], single_process["loss"])


def test_local_embedding_gradients_are_slices_of_the_union_batch_gradient(worker_results, single_process):
    for rank, result in enumerate(worker_results):
        torch.testing.assert_close(result["q_grad"], local(single_process["q"], rank))
        torch.testing.assert_close(result["d_grad"][:LOCAL_BATCH], local(single_process["pos"], rank))
        torch.testing.assert_close(result["d_grad"][LOCAL_BATCH:], local(single_process["neg"], rank))


def test_grad_cache_with_ddp_averaging_gives_the_union_batch_parameter_gradients(worker_results, single_process):
    for result in worker_results:
        for grad, expected in zip(result["encoder_grads"], single_process["encoder_grads"], strict=True):
            torch.testing.assert_close(grad, expected)


def test_outside_a_process_group_gather_is_the_identity():
    x = torch.randn(2, 3)
    assert gather_with_grad(x) is x and rank_and_world_size() == (0, 1)
