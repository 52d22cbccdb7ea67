"""Training state in a checkpoint folder: LoRA weights, optimizer, scheduler, random state,
step, config, and the learning-rate plan the run follows.

Only the trainable (LoRA) weights are saved — megabytes, not the base model's gigabytes; the
base model is reloaded from its own path. Ray Train copies the folder to the run's storage
(file:// or s3://). With the random state (torch CPU, the current CUDA device, Python's
``random``) restored too, a resumed run continues bit for bit as the uninterrupted one would
have (the batch schedule is a pure function of seed and step).

    save_state(folder, model, optimizer, scheduler, step=10, config=config.to_dict())
    next_step = load_state(folder, model, optimizer)   # -> 10; weights, optimizer, random state
    plan = stored_schedule(folder)                      # the LRSchedule to rebuild the scheduler from
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict
from pathlib import Path

import torch
from peft import PeftModel, get_peft_model_state_dict, set_peft_model_state_dict

from tasks.train.schedule import LRSchedule

STATE_FILE = "state.pt"
CONFIG_FILE = "train_config.json"
SCHEDULE_FILE = "lr_schedule.json"


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights that training changes: the LoRA adapter, or everything without one."""
    backbone = getattr(model, "backbone", model)
    if isinstance(backbone, PeftModel):
        return get_peft_model_state_dict(backbone)
    return model.state_dict()


def set_trainable_state(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Put back weights :func:`trainable_state` took."""
    backbone = getattr(model, "backbone", model)
    if isinstance(backbone, PeftModel):
        set_peft_model_state_dict(backbone, state)
    else:
        model.load_state_dict(state)


def random_state() -> dict:
    """This process's random generators: torch CPU, the current CUDA device (if any), Python's ``random``.

    Only rank 0 writes the checkpoint, so with several workers every worker restores rank 0's
    state: exact when the loop draws no random numbers (dropout 0, the default) or with one worker.
    """
    return {"torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state() if torch.cuda.is_available() else None,
            "python": random.getstate()}


def set_random_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state(state["cuda"])
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))  # the checkpoint may hand back lists


def save_state(folder: str | Path, model, optimizer, scheduler, step: int, config: dict) -> None:
    """Write everything a resume needs; call it between steps (the random state is this moment's)."""
    folder = Path(folder)
    torch.save({"model": trainable_state(model), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "step": step, "rng": random_state()}, folder / STATE_FILE)
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=str))
    plan = scheduler.lr_lambdas[0] if hasattr(scheduler, "lr_lambdas") else None
    if isinstance(plan, LRSchedule):
        (folder / SCHEDULE_FILE).write_text(json.dumps(asdict(plan), indent=2))


def load_state(folder: str | Path, model, optimizer=None, scheduler=None) -> int:
    """Restore what :func:`save_state` wrote; return the number of steps already done.

    The random state is restored too, so call this after building the model (LoRA's
    initialisation draws random numbers). The training loop passes no ``scheduler``: it builds
    one from :func:`stored_schedule` rather than trust an old ``LambdaLR`` state.
    """
    state = torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)
    set_trainable_state(model, state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    if "rng" in state:  # absent from checkpoints written before it was saved
        set_random_state(state["rng"])
    return int(state["step"])


def stored_schedule(folder: str | Path) -> LRSchedule:
    """The learning-rate plan the checkpointed run followed.

    Checkpoints from before the plan was stored followed warm-up then linear decay to the
    stored ``steps``, which is what their config gives.
    """
    folder = Path(folder)
    if (folder / SCHEDULE_FILE).exists():
        return LRSchedule(**json.loads((folder / SCHEDULE_FILE).read_text()))
    config = json.loads((folder / CONFIG_FILE).read_text())
    return LRSchedule.warmup_then_linear(config["warmup_steps"], config["steps"])
