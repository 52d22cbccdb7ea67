"""With 2 Ray Train workers, the loss and the summed gradients equal the single-process ones
on the union batch: the production path (Ray's process group, global_info_nce_loss,
GradCache, sum_gradients), not a stand-in."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import torch

from tests.support.union_batch import LOCAL_BATCH, WORLD_SIZE, local, make_encoder, union_batch


def _ray_worker(config: dict) -> None:
    import ray.train

    from tasks.train.collectives import sum_gradients
    from tasks.train.grad_cache import grad_cache_step
    from tasks.train.info_nce import global_info_nce_loss

    rank = ray.train.get_context().get_world_rank()
    torch.set_num_threads(1)
    batch, encoder = union_batch(), make_encoder()
    queries = {"x": local(batch["xq"], rank)}
    documents = {"x": torch.cat([local(batch["xpos"], rank), local(batch["xneg"], rank)])}
    loss = grad_cache_step(lambda b: encoder(b["x"]), queries, documents, mini_batch_size=2,
                           loss_fn=global_info_nce_loss)
    params = list(encoder.parameters())
    sum_gradients(params, torch.device("cpu"))
    metrics = {"loss": float(loss), "grads": [g for p in params for g in p.grad.reshape(-1).tolist()]}
    with tempfile.TemporaryDirectory() as folder:  # Ray Train v2 returns metrics with a checkpoint
        Path(folder, "metrics.json").write_text(json.dumps(metrics))
        ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder) if rank == 0 else None)


def test_two_ray_workers_reproduce_the_single_process_step(tmp_path):
    from ray.train import RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer

    from tasks.train.info_nce import info_nce_loss
    from tasks.train.launch import connect_ray

    batch, encoder = union_batch(), make_encoder()
    single = info_nce_loss(encoder(batch["xq"]), encoder(torch.cat([batch["xpos"], batch["xneg"]])))
    single.backward()
    expected = torch.cat([p.grad.reshape(-1) for p in encoder.parameters()])

    connect_ray(num_cpus=WORLD_SIZE)
    result = TorchTrainer(
        _ray_worker, torch_config=TorchConfig(backend="gloo"),
        scaling_config=ScalingConfig(num_workers=WORLD_SIZE, use_gpu=False),
        run_config=RunConfig(name="negatives", storage_path=str(tmp_path)),
    ).fit()
    with result.checkpoint.as_directory() as folder:
        reported = json.loads(Path(folder, "metrics.json").read_text())
    assert LOCAL_BATCH * WORLD_SIZE == batch["xq"].shape[0]
    assert abs(reported["loss"] - float(single)) < 1e-9
    assert torch.allclose(torch.tensor(reported["grads"], dtype=torch.float64), expected, atol=1e-9)
