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
from transformers import AutoTokenizer

from tasks.train.checkpoint import load_state, save_state, stored_schedule
from tasks.train.collectives import count_tokens, sum_gradients
from tasks.train.config import TrainConfig
from tasks.train.data import batch_schedule, load_pairs, local_slice
from tasks.train.grad_cache import grad_cache_step, has_dropout
from tasks.train.info_nce import global_info_nce_loss
from tasks.train.model import EmbeddingModel
from tasks.train.schedule import LRSchedule, extend_schedule
from tasks.train.text import tokenize_with_eos


def step_seed(seed: int, step: int, rank: int) -> int:
    """The random seed of one worker's step: distinct per (seed, step, rank), stable across restarts.

    >>> step_seed(0, 5, 1) == step_seed(0, 5, 1) != step_seed(0, 5, 0)
    True
    """
    return (seed * 1_000_003 + step) * 1_009 + rank


def train_func(config_dict: dict) -> None:
    names = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in config_dict.items() if k in names})
    base_path, metrics_queue = config_dict["_base_path"], config_dict.get("_metrics_queue")
    context = ray.train.get_context()
    rank, world = context.get_world_rank(), context.get_world_size()
    device = ray.train.torch.get_device()
    torch.manual_seed(config.seed)
    if config.cpus_per_worker:  # Ray gives each worker OMP_NUM_THREADS=1 unless told otherwise
        torch.set_num_threads(max(1, int(config.cpus_per_worker)))

    # Model (base weights straight onto the device, bf16 on GPU; LoRA in fp32), tokenizer, optimizer, schedule.
    model = EmbeddingModel.from_pretrained(base_path, lora_rank=config.lora_rank, lora_alpha=config.lora_alpha,
                                           lora_dropout=config.lora_dropout,
                                           gradient_checkpointing=config.gradient_checkpointing,
                                           dtype=torch.bfloat16 if config.use_gpu and config.bf16 else None,
                                           device=device, attn_implementation=config.attn_implementation)
    model.train()
    # Step 1 of GradCache may run larger mini-batches only when the forward pass draws no dropout masks.
    no_grad_scale = 1 if has_dropout(model) else config.no_grad_scale
    tokenizer = AutoTokenizer.from_pretrained(base_path)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=config.weight_decay)
    start, lr_schedule = 0, LRSchedule.warmup_then_linear(config.warmup_steps, config.steps)
    if (checkpoint := ray.train.get_checkpoint()) is not None:
        with checkpoint.as_directory() as folder:
            start = load_state(folder, model, optimizer)  # weights, optimizer state, random state
            # The plan the run followed, re-planned to a larger --steps (preflight allowed it);
            # never the old LambdaLR state, whose step count may contradict the new plan.
            lr_schedule = extend_schedule(stored_schedule(folder), start, config.steps)
    # last_epoch=start-1: the scheduler stands at `start` (lr = base lr x lr_schedule(start)).
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_schedule, last_epoch=start - 1)

    # Data: every worker computes the same global schedule and takes its slice.
    schedule = batch_schedule(load_pairs(config.data, config.data_weights, config.seed),
                              config.batch_size, config.steps, config.seed, config.same_task_type_batches)
    loss_fn = partial(global_info_nce_loss, temperature=config.temperature,
                      false_negative_margin=config.false_negative_margin)
    autocast = partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16,
                       enabled=config.use_gpu and config.bf16)

    def embed(batch: dict) -> torch.Tensor:
        return model(**{k: v.to(device) for k, v in batch.items()})

    for step in range(start, config.steps):
        started = time.perf_counter()
        # Dropout draws from (seed, step, rank) alone: a resumed or replaced worker draws what the
        # uninterrupted one would have, whichever rank wrote the checkpoint.
        torch.manual_seed(step_seed(config.seed, step, rank))
        batch = local_slice(schedule[step], rank, world)
        queries = tokenize_with_eos(tokenizer, [p.query for p in batch], config.max_length)
        documents = tokenize_with_eos(
            tokenizer, [p.positive for p in batch] + [p.negative for p in batch if p.negative is not None],
            config.max_length)
        optimizer.zero_grad(set_to_none=True)
        with autocast():
            loss = grad_cache_step(embed, queries, documents, config.mini_batch_size, loss_fn,
                                   mini_batch_tokens=config.mini_batch_tokens, no_grad_scale=no_grad_scale)
        sum_gradients(params, device)
        grad_norm = torch.nn.utils.clip_grad_norm_(params, config.max_grad_norm)
        optimizer.step()
        scheduler.step()

        tokens = count_tokens([queries, documents], device)  # all workers' real tokens
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
