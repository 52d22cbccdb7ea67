"""The training loop without Ray: a plain torch.distributed process group drives ``train_loop``.

Two gloo workers whose LoRA initialisations differ (as on machines whose generators draw other
numbers) must still train identical replicas: rank 0's weights are broadcast before the first
step. The same loop, one process, trains, checkpoints, resumes and publishes through
:class:`ProcessGroupSession` (``tests/gpu/run.sh --cpu`` drives it end to end under torchrun).
"""

from __future__ import annotations

import json
import os
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from infra.services.process import free_port
from tasks.train.config import TrainConfig
from tasks.train.data import Pair
from tasks.train.session import ProcessGroupSession
from tasks.train.standalone import read_pairs, write_pairs
from tests.train.tiny import save_tiny_base

WORLD_SIZE = 2
PAIRS = [Pair(f"Instruct: Find the passage.\nQuery: question {i}", f"passage {i} " * (2 + i % 5), f"other {i}")
         for i in range(16)]


class KeepWeights(ProcessGroupSession):
    """Every rank saves its final LoRA weights instead of publishing the model."""

    def __init__(self, checkpoint_dir, out: Path, **kwargs):
        super().__init__(checkpoint_dir, on_metrics=None, **kwargs)
        self.out = out

    def finish(self, model, tokenizer, config) -> None:
        lora = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        torch.save(lora, self.out / f"rank{self.rank}.pt")


def _config(tmp: Path, **overrides) -> dict:
    values = dict(data=[f"file://{tmp}/pairs.jsonl"], base_model=str(tmp / "base"), out=f"file://{tmp}/out",
                  batch_size=4, mini_batch_size=1, steps=2, warmup_steps=0, learning_rate=1e-2, max_length=32,
                  lora_rank=4, lora_alpha=8, checkpoint_every=1, num_workers=WORLD_SIZE)
    config = TrainConfig(**(values | overrides))
    return {**config.to_dict(), "_base_path": str(tmp / "base")}


def _perturbed_by_rank(apply_lora, rank: int):
    """apply_lora whose LoRA weights carry noise of this worker's own."""

    def perturbed(*args, **kwargs):
        model = apply_lora(*args, **kwargs)
        generator = torch.Generator().manual_seed(1000 + rank)
        with torch.no_grad():
            for name, parameter in model.named_parameters():
                if "lora_" in name:
                    parameter.add_(torch.randn(parameter.shape, generator=generator) * 0.05)
        return model

    return perturbed


def _worker(rank: int, port: int, tmp: str) -> None:
    import tasks.train.model as model_module
    from tasks.train.loop import train_loop

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)  # two workers on two cores
    dist.init_process_group("gloo", rank=rank, world_size=WORLD_SIZE)
    try:
        model_module.apply_lora = _perturbed_by_rank(model_module.apply_lora, rank)
        tmp_path = Path(tmp)
        session = KeepWeights(tmp_path / "checkpoints", out=tmp_path)
        train_loop(_config(tmp_path), session, read_pairs(tmp_path / "pairs.jsonl"))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def base_and_pairs(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("standalone")
    save_tiny_base(tmp / "base")
    write_pairs(PAIRS, tmp / "pairs.jsonl")
    return tmp


def test_workers_that_initialise_differently_train_identical_replicas(base_and_pairs):
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(Path(__file__).resolve().parents[2]))  # spawned workers import this module
        mp.spawn(_worker, args=(free_port(), str(base_and_pairs)), nprocs=WORLD_SIZE, join=True)
    first, second = (torch.load(base_and_pairs / f"rank{r}.pt") for r in range(WORLD_SIZE))
    assert first.keys() == second.keys() and first
    different = [name for name in first if not torch.equal(first[name], second[name])]
    assert different == [], f"{len(different)} of {len(first)} LoRA weights differ between the replicas"


def test_one_process_trains_checkpoints_resumes_and_publishes(base_and_pairs, tmp_path):
    from tasks.train.loop import train_loop

    metrics: list[dict] = []
    config = {**_config(base_and_pairs, num_workers=1), "out": f"file://{tmp_path}/out"}
    session = partial(ProcessGroupSession, tmp_path / "checkpoints", on_metrics=metrics.append)
    pairs = read_pairs(base_and_pairs / "pairs.jsonl")
    train_loop({**config, "steps": 1}, session(), pairs)
    assert [p.name for p in session().checkpoints()] == ["checkpoint_00000001"]
    train_loop({**config, "steps": 2, "extend_steps": True}, session(), pairs)  # resumes at step 1
    assert [m["step"] for m in metrics] == [1, 2]
    assert [p.name for p in session().checkpoints()] == ["checkpoint_00000002", "checkpoint_00000001"]
    model_dir = tmp_path / "out" / "model"
    assert (model_dir / "modules.json").is_file() and (tmp_path / "out" / "adapter" / "adapter_config.json").is_file()
    assert json.loads((model_dir / "synthembed_train_config.json").read_text())["steps"] == 2
