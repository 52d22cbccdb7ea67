"""The training loop: ``train_loop(config, session)``, top to bottom, on every worker.

Ray Train runs it as ``train_func(config)`` (:mod:`tasks.train.launch`; how users train); a
plain ``torch.distributed`` process group, or one process, runs it through a
:class:`tasks.train.session.ProcessGroupSession` (:mod:`tasks.train.standalone`, the GPU check).
Everything is built inside the function (objects built on the driver may not serialise to
workers). Every rank reports once per step; rank 0 attaches the checkpoint, sends metrics to the
driver, and exports the model. With held-out rows, every ``eval_every`` steps adds the held-out
loss and accuracy to that step's metrics (:mod:`tasks.train.heldout`); with
``early_stop_patience``, every rank stops at the same step (the metrics are all-reduced) and the
best weights are exported.

Replicas start equal: after loading (and resuming), rank 0's trainable weights are broadcast,
whatever each worker's initialisation drew. That broadcast is the first collective, and it comes
after each worker has loaded the base model and the data, so a worker that downloads the base
model from the hub reaches it late: the launcher sets the process group's timeout to cover a
download (:data:`tasks.train.launch.COLLECTIVE_TIMEOUT_S`).
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import fields
from functools import partial

import torch
from transformers import AutoTokenizer

from tasks.train.checkpoint import load_state, save_state, set_trainable_state, stored_schedule, trainable_state
from tasks.train.collectives import broadcast_from_rank0, count_tokens, sum_gradients
from tasks.train.config import TrainConfig
from tasks.train.data import Pair, TrainingPairs, batch_schedule, local_slice, pairs_for
from tasks.train.grad_cache import Autocast, grad_cache_step, has_dropout
from tasks.train.heldout import EarlyStopping, heldout_metrics
from tasks.train.info_nce import global_info_nce_loss
from tasks.train.model import EmbeddingModel
from tasks.train.schedule import LRSchedule, extend_schedule
from tasks.train.session import Session
from tasks.train.text import tokenize_with_eos


def step_seed(seed: int, step: int, rank: int) -> int:
    """The random seed of one worker's step: distinct per (seed, step, rank), stable across restarts.

    >>> step_seed(0, 5, 1) == step_seed(0, 5, 1) != step_seed(0, 5, 0)
    True
    """
    return (seed * 1_000_003 + step) * 1_009 + rank


def mixed_precision(config: TrainConfig, device: torch.device) -> Autocast:
    """The autocast factory GradCache enters once per forward phase: bf16 on a GPU, off on the CPU."""
    return partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16,
                   enabled=config.use_gpu and config.bf16)


def train_func(config_dict: dict) -> None:
    """Ray Train's entry point (one argument, as ``TorchTrainer`` requires)."""
    from tasks.train.session import RaySession

    train_loop(config_dict, RaySession())


def train_loop(config_dict: dict, session: Session, pairs: list[Pair] | TrainingPairs | None = None) -> EmbeddingModel:
    """Train as ``config_dict`` says, driven by ``session``; return the model (on rank 0: published).

    ``config_dict``: :class:`TrainConfig`'s fields plus ``_base_path`` (the resolved base model,
    :func:`tasks.train.base_model.resolve_base_model`) and optionally ``_metrics_queue``.
    ``pairs``: the training pairs (a list: none held out) or training and held-out pairs, when the
    caller has them already (else read from ``config.data``).
    """
    names = {f.name for f in fields(TrainConfig)}
    config = TrainConfig(**{k: v for k, v in config_dict.items() if k in names})
    base_path, metrics_queue = config_dict["_base_path"], config_dict.get("_metrics_queue")
    rank, world, device = session.rank, session.world_size, session.device
    torch.manual_seed(config.seed)
    if config.cpus_per_worker:  # Ray gives each worker OMP_NUM_THREADS=1 unless told otherwise
        torch.set_num_threads(max(1, int(config.cpus_per_worker)))

    # Model (base weights straight onto the device, bf16 on GPU; LoRA in fp32), tokenizer, optimizer, schedule.
    # A hub id is downloaded here, before the first collective (the broadcast below).
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
    with session.checkpoint() as folder:
        if folder is not None:
            start = load_state(folder, model, optimizer)  # weights, optimizer state, random state
            # The plan the run followed, re-planned to a larger --steps (preflight allowed it);
            # never the old LambdaLR state, whose step count may contradict the new plan.
            lr_schedule = extend_schedule(stored_schedule(folder), start, config.steps)
        stopping = EarlyStopping.load(folder, config.early_stop_patience)  # the best so far, on resume
    # last_epoch=start-1: the scheduler stands at `start` (lr = base lr x lr_schedule(start)).
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_schedule, last_epoch=start - 1)

    # Data: every worker computes the same global schedule and takes its slice.
    data = pairs_for(config) if pairs is None else pairs if isinstance(pairs, TrainingPairs) else TrainingPairs(pairs, [])
    schedule = batch_schedule(data.train, config.batch_size, config.steps, config.seed, config.same_task_type_batches)
    # The first collective: every replica starts from rank 0's weights (equal seeds are not enough:
    # another GPU, library or initialisation order draws other numbers).
    broadcast_from_rank0(params, device)
    loss_fn = partial(global_info_nce_loss, temperature=config.temperature,
                      false_negative_margin=config.false_negative_margin)
    autocast = mixed_precision(config, device)

    def embed(batch: dict) -> torch.Tensor:
        return model(**{k: v.to(device, non_blocking=True) for k, v in batch.items()})

    @torch.no_grad()
    def embed_texts(texts: list[str]) -> torch.Tensor:  # held-out texts: no grad, mini-batch by mini-batch
        size = config.mini_batch_size * config.no_grad_scale
        with autocast():
            return torch.cat([embed(tokenize_with_eos(tokenizer, texts[i:i + size], config.max_length))
                              for i in range(0, len(texts), size)])

    for step in range(start, config.steps):
        if stopping.stop:  # resumed from the checkpoint an early stop wrote: nothing left to train
            break
        started = time.perf_counter()
        # Dropout draws from (seed, step, rank) alone: a resumed or replaced worker draws what the
        # uninterrupted one would have, whichever rank wrote the checkpoint.
        torch.manual_seed(step_seed(config.seed, step, rank))
        batch = local_slice(schedule[step], rank, world)
        queries = tokenize_with_eos(tokenizer, [p.query for p in batch], config.max_length)
        # The layout the loss expects: B positives, then the B*k hard negatives (k equal within a batch).
        documents = tokenize_with_eos(
            tokenizer, [p.positive for p in batch] + [n for p in batch for n in p.negatives], config.max_length)
        optimizer.zero_grad(set_to_none=True)
        # Each forward phase in an autocast region of its own (never one region around Step 1 and Step 3).
        loss = grad_cache_step(embed, queries, documents, config.mini_batch_size, loss_fn,
                               mini_batch_tokens=config.mini_batch_tokens, no_grad_scale=no_grad_scale,
                               autocast=autocast)
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
        if data.heldout and ((step + 1) % config.evaluation_interval() == 0 or last):
            model.eval()
            metrics |= heldout_metrics(embed_texts, data.heldout, config.batch_size, config.temperature, rank, world,
                                       device)
            model.train()
            keep = (lambda: trainable_state(model)) if config.early_stop_patience else None
            stopping.update(metrics["heldout_loss"], step + 1, keep)
            last = last or stopping.stop  # the same on every rank: the metrics were all-reduced
        if (step + 1) % config.checkpoint_every == 0 or last:
            with tempfile.TemporaryDirectory() as folder:
                if rank == 0:
                    save_state(folder, model, optimizer, scheduler, step + 1, config.to_dict())
                    stopping.save(folder)
                session.report(metrics, checkpoint=folder if rank == 0 else None)
        else:
            session.report(metrics)
        if rank == 0 and metrics_queue is not None:
            metrics_queue.put(metrics)
        if stopping.stop:
            break

    if stopping.best_weights is not None:  # early stopping: export the best held-out weights, not the last
        set_trainable_state(model, stopping.best_weights)
    session.finish(model, tokenizer, config)
    return model
