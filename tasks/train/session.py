"""Who drives the training loop: Ray Train (how users run it), or a plain ``torch.distributed`` group.

:func:`tasks.train.loop.train_loop` asks its session five things: this worker's rank, the number
of workers, the device, the checkpoint to resume from, and where a step's metrics (and, every
``checkpoint_every`` steps, rank 0's checkpoint folder) go. At the end the session publishes
the model (rank 0).

* :class:`RaySession`: inside a Ray Train worker (``train_func``): Ray's context, device,
  checkpoints and ``ray.train.report``. Ray is imported only here, when it is used.
* :class:`ProcessGroupSession`: one process, or one per GPU under ``torchrun`` (an initialised
  default process group, NCCL or gloo); checkpoints are folders ``checkpoint_{step:08d}`` in a
  local directory, metrics go to a callback (JSON lines on stdout by default). No Ray, no Prefect:
  this is what ``tests/gpu/run.sh`` drives on a machine that has only torch and transformers.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from tasks.train.gather import rank_and_world_size

CHECKPOINT_PREFIX = "checkpoint_"


class Session:
    """The base: rank, world size and device, plus what a driver does with metrics and checkpoints."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @contextmanager
    def checkpoint(self) -> Iterator[str | None]:
        """The folder of the checkpoint to resume from, or None for a fresh start."""
        yield None

    def report(self, metrics: dict, checkpoint: str | None = None) -> None:
        """Every rank, every step; ``checkpoint`` is rank 0's folder on checkpoint steps (None elsewhere)."""

    def finish(self, model, tokenizer, config) -> None:
        """After the last step, on every rank: rank 0 publishes the model to ``{out}/adapter`` and ``{out}/model``."""
        if self.rank == 0:
            from tasks.train.publish import publish_model  # export needs the trained weights in memory

            publish_model(model, tokenizer, config)


class RaySession(Session):
    """The session of a Ray Train worker."""

    def __init__(self) -> None:
        import ray.train
        import ray.train.torch

        context = ray.train.get_context()
        self.rank, self.world_size = context.get_world_rank(), context.get_world_size()
        self.device = ray.train.torch.get_device()

    @contextmanager
    def checkpoint(self) -> Iterator[str | None]:
        import ray.train

        found = ray.train.get_checkpoint()
        if found is None:
            yield None
            return
        with found.as_directory() as folder:
            yield folder

    def report(self, metrics: dict, checkpoint: str | None = None) -> None:
        import ray.train  # ray.train.report looked up at each call (tests replace it)

        if checkpoint is not None:
            ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(checkpoint))
        else:
            ray.train.report(metrics)


def print_metrics(metrics: dict) -> None:
    print(json.dumps(metrics), flush=True)


class ProcessGroupSession(Session):
    """A plain ``torch.distributed`` run (or a single process): local checkpoints, metrics to a callback.

    Args:
        checkpoint_dir: where rank 0 keeps ``checkpoint_{step:08d}`` folders and every rank
            resumes from the newest (one machine, or a shared file system).
        use_gpu: train on ``cuda:{LOCAL_RANK}`` (torchrun sets it; 0 in a single process).
        on_metrics: called on rank 0 with each step's metrics; default: a JSON line on stdout.
        keep: checkpoints kept (the newest).
    """

    def __init__(self, checkpoint_dir: str | Path, use_gpu: bool = False,
                 on_metrics: Callable[[dict], None] | None = print_metrics, keep: int = 2) -> None:
        self.rank, self.world_size = rank_and_world_size()
        if use_gpu:
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
            torch.cuda.set_device(self.device)
        else:
            self.device = torch.device("cpu")
        self.checkpoint_dir, self.on_metrics, self.keep = Path(checkpoint_dir), on_metrics, keep

    def checkpoints(self) -> list[Path]:
        """The complete checkpoint folders, newest (highest step) first."""
        if not self.checkpoint_dir.is_dir():
            return []
        found = [p for p in self.checkpoint_dir.iterdir() if p.is_dir() and p.name.startswith(CHECKPOINT_PREFIX)
                 and p.name[len(CHECKPOINT_PREFIX):].isdigit()]
        return sorted(found, reverse=True)

    @contextmanager
    def checkpoint(self) -> Iterator[str | None]:
        found = self.checkpoints()
        yield str(found[0]) if found else None

    def report(self, metrics: dict, checkpoint: str | None = None) -> None:
        if checkpoint is not None:
            target = self.checkpoint_dir / f"{CHECKPOINT_PREFIX}{int(metrics['step']):08d}"
            partial = self.checkpoint_dir / f".{target.name}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            shutil.copytree(checkpoint, partial)
            shutil.rmtree(target, ignore_errors=True)
            os.rename(partial, target)  # a crash leaves no half checkpoint under a checkpoint's name
            for stale in self.checkpoints()[self.keep:]:
                shutil.rmtree(stale, ignore_errors=True)
        if self.rank == 0 and self.on_metrics is not None:
            self.on_metrics(metrics)
