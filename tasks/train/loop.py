"""The training loop each Ray Train worker runs: ``train_func(config)``, top to bottom.

Launched by :mod:`tasks.train.launch`; everything is built inside the function (objects built
on the driver may not serialise to workers). Every rank calls ``ray.train.report`` once per
step; rank 0 attaches the checkpoint, sends metrics to the driver, and exports the model.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import fields
from functools import partial

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist
from transformers import AutoTokenizer

from tasks.train.checkpoint import load_state, save_state
from tasks.train.config import TrainConfig
from tasks.train.data import batch_schedule, load_pairs, local_slice
from tasks.train.gather import is_distributed
from tasks.train.grad_cache import grad_cache_step
from tasks.train.info_nce import global_info_nce_loss
from tasks.train.model import EmbeddingModel
from tasks.train.text import tokenize_with_eos


def warmup_then_linear(warmup_steps: int, total_steps: int):
    """LR multiplier: linear warm-up to 1, then linear decay to 0 at ``total_steps``."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return factor


def sum_gradients(params: list[torch.Tensor]) -> None:
    """Add up the workers' gradients (one flat all_reduce).

    Each worker's backward gives the gradient from its own embeddings of the *global* loss,
    so the union batch's gradient is the sum, not DDP's mean (see global_info_nce_loss).
    """
    if not is_distributed():
        return
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    for p, chunk in zip(params, flat.split([g.numel() for g in grads])):
        p.grad = chunk.view_as(p)


def train_func(config_dict: dict) -> None:
    names = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in config_dict.items() if k in names})
    base_path, metrics_queue = config_dict["_base_path"], config_dict.get("_metrics_queue")
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    torch.manual_seed(config.seed)

    # Model, tokenizer, optimizer, schedule.
    model = EmbeddingModel.from_pretrained(base_path, lora_rank=config.lora_rank, lora_alpha=config.lora_alpha,
                                           lora_dropout=config.lora_dropout,
                                           gradient_checkpointing=config.gradient_checkpointing).to(device)
    model.train()
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, warmup_then_linear(config.warmup_steps, config.steps))
    start = 0
    if (checkpoint := ray.train.get_checkpoint()) is not None:
        with checkpoint.as_directory() as folder:
            start = load_state(folder, model, optimizer, scheduler)

    # Data: every worker computes the same global schedule and takes its slice.
    schedule = batch_schedule(load_pairs(config.data, config.data_weights, config.seed),
                              config.batch_size, config.steps, config.seed)
    loss_fn = partial(global_info_nce_loss, temperature=config.temperature)
    autocast = partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16,
                       enabled=config.use_gpu and config.bf16)

    def embed(batch: dict) -> torch.Tensor:
        return model(**{k: v.to(device) for k, v in batch.items()})

    for step in range(start, config.steps):
        started = time.perf_counter()
        batch = local_slice(schedule[step], rank, world)
        queries = tokenize_with_eos(tokenizer, [p.query for p in batch], config.max_length)
        documents = tokenize_with_eos(
            tokenizer, [p.positive for p in batch] + [p.negative for p in batch if p.negative is not None],
            config.max_length)
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = grad_cache_step(embed, queries, documents, config.mini_batch_size, loss_fn)
        sum_gradients(params)
        grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        scheduler.step()

        tokens = torch.tensor(float(queries["attention_mask"].sum() + documents["attention_mask"].sum()))
        if is_distributed():
            dist.all_reduce(tokens)
        seconds = time.perf_counter() - started
        metrics = {"step": step + 1, "loss": float(loss), "lr": scheduler.get_last_lr()[0],
                   "grad_norm": float(grad_norm), "seconds_per_step": seconds,
                   "tokens_per_s": float(tokens) / seconds, "examples_per_s": config.batch_size / seconds}
        if not math.isfinite(metrics["loss"]):
            raise FloatingPointError(f"loss is {metrics['loss']} at step {step + 1}")
        last = step + 1 == config.steps
        if (step + 1) % config.checkpoint_every == 0 or last:
            with tempfile.TemporaryDirectory() as folder:
                if rank == 0:
                    save_state(folder, model, optimizer, scheduler, step + 1, config.to_dict())
                ray.train.report(metrics, checkpoint=ray.train.Checkpoint.from_directory(folder) if rank == 0 else None)
        else:
            ray.train.report(metrics)
        if rank == 0 and metrics_queue is not None:
            metrics_queue.put(metrics)

    if rank == 0:
        from tasks.train.publish import publish_model  # export needs the trained weights in memory

        publish_model(model, tokenizer, config)
