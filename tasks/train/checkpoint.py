"""Training state in a checkpoint folder: LoRA weights, optimizer, scheduler, step, config.

Only the trainable (LoRA) weights are saved — megabytes, not the base model's gigabytes; the
base model is reloaded from its own path. Ray Train copies the folder to the run's storage
(file:// or s3://).

    save_state(folder, model, optimizer, scheduler, step=10, config=config.to_dict())
    next_step = load_state(folder, model, optimizer, scheduler)   # -> 10
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from peft import PeftModel, get_peft_model_state_dict, set_peft_model_state_dict

STATE_FILE = "state.pt"
CONFIG_FILE = "train_config.json"


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The weights that training changes: the LoRA adapter, or everything without one."""
    backbone = getattr(model, "backbone", model)
    if isinstance(backbone, PeftModel):
        return get_peft_model_state_dict(backbone)
    return model.state_dict()


def save_state(folder: str | Path, model, optimizer, scheduler, step: int, config: dict) -> None:
    folder = Path(folder)
    torch.save({"model": trainable_state(model), "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(), "step": step}, folder / STATE_FILE)
    (folder / CONFIG_FILE).write_text(json.dumps(config, indent=2, default=str))


def load_state(folder: str | Path, model, optimizer=None, scheduler=None) -> int:
    """Restore what :func:`save_state` wrote; return the number of steps already done."""
    state = torch.load(Path(folder) / STATE_FILE, map_location="cpu", weights_only=True)
    backbone = getattr(model, "backbone", model)
    if isinstance(backbone, PeftModel):
        set_peft_model_state_dict(backbone, state["model"])
    else:
        model.load_state_dict(state["model"])
    if optimizer is not None:
        optimizer.load_state_dict(state["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(state["scheduler"])
    return int(state["step"])
