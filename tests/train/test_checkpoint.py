"""Checkpoints hold the LoRA weights, optimizer, scheduler and step; loading restores them exactly."""

from __future__ import annotations

import torch

from tasks.train.checkpoint import load_state, save_state
from tasks.train.model import EmbeddingModel, apply_lora
from tasks.train.schedule import LRSchedule
from tests.train.tiny import tiny_llama


def _setup(tokenizer):
    torch.manual_seed(0)
    model = EmbeddingModel(apply_lora(tiny_llama(len(tokenizer)), rank=4, alpha=8))
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-2)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, LRSchedule.warmup_then_linear(1, 10))
    return model, params, optimizer, scheduler


def test_save_then_load_restores_lora_weights_optimizer_and_step(tokenizer, tmp_path):
    model, params, optimizer, scheduler = _setup(tokenizer)
    ids = torch.tensor([[5, 6, 7, 2]])
    for _ in range(3):  # train a little so every piece of state is non-trivial
        optimizer.zero_grad()
        model(input_ids=ids, attention_mask=torch.ones_like(ids)).sum().backward()
        optimizer.step()
        scheduler.step()
    save_state(tmp_path, model, optimizer, scheduler, step=3, config={"steps": 10})

    fresh, fresh_params, fresh_optimizer, fresh_scheduler = _setup(tokenizer)
    assert not all(torch.equal(a, b) for a, b in zip(params, fresh_params))
    assert load_state(tmp_path, fresh, fresh_optimizer, fresh_scheduler) == 3
    assert all(torch.equal(a, b) for a, b in zip(params, fresh_params))
    assert fresh_scheduler.get_last_lr() == scheduler.get_last_lr()
    assert fresh_optimizer.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]
    saved = torch.load(tmp_path / "state.pt", weights_only=True)["model"]
    assert saved and all("lora" in name for name in saved)  # adapter only, not the base model
