"""``synthembed train``: fine-tune a decoder LLM into an embedding model on synthesis runs (the ``train`` flow).

    synthembed train --data file://./data/runs/RUN_ID --base-model smollm2-135m --out file://./models/m1
    synthembed train --data file://./data/runs/RUN_ID,./labelled/ --data-weights 3,1 --epochs 2 \
        --early-stop-patience 3 --base-model smollm2-135m --out file://./models/m2

Labelled sets (Parquet, a ``datasets`` folder, ``hf://OWNER/NAME``) in sentence-transformers' columns
mix in beside runs; their rows overlapping the offline evaluation suite are left out first
(``--labelled-overlap``, :func:`flows.train.exclude_labelled_overlap`).

The training flags that ``pipeline`` takes too are declared once here (:func:`add_training_options`),
with each command's defaults. Exit codes: 0 trained (and pushed), 1 trained but the push to the hub
failed, 2 bad input (before Ray or a model starts).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

from flows.cli.error_lines import EXIT_FAILED, EXIT_OK, USER_ERRORS, bad_input, print_error
from flows.cli.options import csv
from tasks.common.report import format_table
from tasks.common.settings import Settings
from tasks.train.config import ATTENTION_IMPLEMENTATIONS, LABELLED_INSTRUCTION, TrainConfig


@dataclass(frozen=True)
class TrainingDefaults:
    """The defaults of the training flags in one command (``train``'s; the pipeline makes a short CPU run)."""

    steps: int = 100
    batch_size: int = 32
    mini_batch_size: int = 8
    max_length: int = 512
    learning_rate: float = 1e-4
    warmup_steps: int = 10
    temperature: float = 0.02  # the paper's; the pipeline's small batches need a softer one (BENCHMARKS.md)
    eval_every: int | None = None  # None: about 20 held-out evaluations per run
    cpus_per_worker: float | None = None
    checkpoint_every: int | None = 50  # None: the command decides (the pipeline: half of --steps)
    aliases: dict[str, str] = field(default_factory=dict)  # flag -> an older spelling that still works


def add_training_options(p: argparse.ArgumentParser | argparse._ArgumentGroup, defaults: TrainingDefaults) -> None:
    """How to train: every ``train`` flag except where the data comes from, where the model goes, and the seed."""
    def flags(name: str) -> list[str]:
        return [name, *([defaults.aliases[name]] if name in defaults.aliases else [])]

    p.add_argument("--base-model", default="embedded-qwen",
                   help="HF folder, hub id, .gguf file, or embedded-qwen / smollm2-135m (default: embedded-qwen)")
    p.add_argument(*flags("--batch-size"), type=int, default=defaults.batch_size, metavar="N",
                   help="contrastive batch over all workers (default: %(default)s)")
    p.add_argument("--mini-batch-size", type=int, default=defaults.mini_batch_size,
                   help="rows per forward pass, GradCache (default: %(default)s)")
    p.add_argument("--mini-batch-tokens", type=int, help="and at most this many padded tokens per forward pass "
                   "(rows x the longest row; texts are sorted by length first; default: rows only)")
    p.add_argument("--steps", type=int, default=defaults.steps, help="optimizer steps (default: %(default)s)")
    p.add_argument("--epochs", type=float, help="instead of --steps (overrides it): passes over the training rows, "
                   "steps = ceil(EPOCHS x rows / batch size)")
    p.add_argument("--learning-rate", type=float, default=defaults.learning_rate,
                   help="peak learning rate (default: %(default)s)")
    p.add_argument("--warmup-steps", type=int, default=defaults.warmup_steps,
                   help="linear warmup, then linear decay to 0 (default: %(default)s)")
    p.add_argument(*flags("--max-length"), type=int, default=defaults.max_length, metavar="TOKENS",
                   help="tokens per training text (default: %(default)s)")
    p.add_argument("--lora-rank", type=int, default=16)
    p.add_argument("--temperature", type=float, default=defaults.temperature,
                   help="InfoNCE temperature τ (default: %(default)s)")
    p.add_argument("--false-negative-margin", type=float,
                   help="mask a negative scoring above cos(query, positive) - MARGIN, by the model's own "
                   "scores (e.g. 0.05; default: off)")
    p.add_argument("--negatives-per-query", type=int, default=1, metavar="K",
                   help="hard negatives per query: the row's own, then mined ones (default: %(default)s)")
    p.add_argument("--holdout-fraction", type=float, metavar="F",
                   help="rows never trained on, for the held-out loss (default: 0.1 from 20 rows on, else 0)")
    p.add_argument("--eval-every", type=int, metavar="N", default=defaults.eval_every,
                   help=f"steps between held-out evaluations (default: {defaults.eval_every or 'about 20 per run'})")
    p.add_argument("--early-stop-patience", type=int, metavar="P",
                   help="stop when the held-out loss has not improved for P evaluations; the best weights are "
                   "exported (default: off, the last are)")
    p.add_argument("--same-task-type-batches", action="store_true",
                   help="draw every batch from one synthesis task type")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--num-workers", type=int, default=1)
    p.add_argument("--use-gpu", action="store_true")
    p.add_argument("--attn-implementation", choices=ATTENTION_IMPLEMENTATIONS,
                   help="attention kernels (default: flash_attention_2 where installed on GPU, else sdpa)")
    shared_cpus = "the Ray cluster's CPUs shared by the workers"
    p.add_argument("--cpus-per-worker", type=float, default=defaults.cpus_per_worker,
                   help=f"CPUs (and torch threads) per worker (default: {defaults.cpus_per_worker or shared_cpus})")
    p.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every,
                   help=f"steps between checkpoints (default: {defaults.checkpoint_every or 'half of --steps'})")
    p.add_argument("--resume", action="store_true", help="continue from the last checkpoint under --out")
    p.add_argument("--extend-steps", action="store_true",
                   help="with --resume: allow more --steps than the run planned; its lr decay is re-planned "
                   "from the last step's lr to 0 at the new total")


def training_config(args: argparse.Namespace, **command) -> TrainConfig:
    """The config the training flags describe; ``command``: the fields each command fills its own way
    (``data``, ``out``, ``seed``...)."""
    return TrainConfig(**{
        "base_model": args.base_model, "batch_size": args.batch_size, "mini_batch_size": args.mini_batch_size,
        "mini_batch_tokens": args.mini_batch_tokens, "steps": args.steps, "learning_rate": args.learning_rate,
        "warmup_steps": args.warmup_steps, "max_length": args.max_length, "lora_rank": args.lora_rank,
        "temperature": args.temperature, "false_negative_margin": args.false_negative_margin,
        "same_task_type_batches": args.same_task_type_batches, "gradient_checkpointing": args.gradient_checkpointing,
        "num_workers": args.num_workers, "use_gpu": args.use_gpu, "attn_implementation": args.attn_implementation,
        "cpus_per_worker": args.cpus_per_worker, "checkpoint_every": args.checkpoint_every,
        "extend_steps": args.extend_steps, "epochs": args.epochs, "negatives_per_query": args.negatives_per_query,
        "holdout_fraction": args.holdout_fraction, "eval_every": args.eval_every,
        "early_stop_patience": args.early_stop_patience, **command})


def _weights(text: str | None) -> list[float] | None:
    try:
        return [float(w) for w in text.split(",")] if text else None
    except ValueError:
        raise ValueError(f"--data-weights {text!r}: give one number per --data source, comma-separated") from None


def add_train_parser(sub: argparse._SubParsersAction, settings: Settings) -> None:
    p = sub.add_parser("train", help="fine-tune a decoder LLM into an embedding model (Ray Train)")
    p.add_argument("--data", required=True, help="comma-separated sources: synthesis runs ({store}/runs/{run_id}) and "
                   "labelled sets in sentence-transformers' columns (anchor|query, positive, negative|negative_1..n): "
                   "a Parquet file or folder, a datasets save_to_disk folder, or hf://OWNER/NAME[@SPLIT]")
    p.add_argument("--data-weights", help="mixing weight per --data source, comma-separated (default: by rows)")
    p.add_argument("--labelled-instruction", default=LABELLED_INSTRUCTION,
                   help="the instruction labelled rows' queries get (default: %(default)r)")
    p.add_argument("--labelled-overlap", choices=("drop", "off"), default="drop",
                   help="labelled rows sharing a passage with the offline evaluation suite: drop them (default), or "
                   "do not check")
    p.add_argument("--out", required=True, help="store URL for checkpoints and the model, e.g. file://./models/m1")
    add_training_options(p, TrainingDefaults())
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--ray-address", default=settings.ray_address,
                   help="join this Ray cluster (default: local Ray on 127.0.0.1)")
    p.add_argument("--push-to-hub", metavar="REPO",
                   help="then upload {out}/model as hub model OWNER/NAME (token: $HF_TOKEN)")


def train_command(args: argparse.Namespace) -> int:
    from tasks.common.hub import HubUnavailable, check_repo_id
    from tasks.train.preflight import check_training_inputs  # looked up now: tests replace it
    from tasks.train.sources import source_kind

    try:
        repo_id = check_repo_id(args.push_to_hub) if args.push_to_hub else None
        config = training_config(args, data=csv(args.data), out=args.out, seed=args.seed,
                                 data_weights=_weights(args.data_weights), labelled_instruction=args.labelled_instruction)
        if args.labelled_overlap == "drop" and any(source_kind(url) != "run" for url in config.data):
            from flows.train import exclude_labelled_overlap  # imports Prefect: only when there is labelled data

            exclude_labelled_overlap(config)
        pairs = check_training_inputs(config, resume=args.resume)  # before Ray or a model starts
    except (ValueError, *USER_ERRORS) as exc:
        return bad_input(exc)
    print(f"{pairs} training pairs from {len(config.data)} source(s), {config.steps} steps", file=sys.stderr)
    from flows.train import train  # imports Prefect and Ray: after the checks

    summary = train(config, resume=args.resume, ray_address=args.ray_address, pairs=pairs)
    print(format_table([{k: summary.get(k) for k in ("first_loss", "last_loss", "steps_trained", "best_heldout_loss",
                                                      "best_heldout_step", "best_heldout_accuracy") if k in summary}]))
    for key in ("model", "card", "adapter", "loss_plot", "checkpoint"):
        print(f"{key + ':':11} {summary[key]}")
    if repo_id:  # after the model and its card are stored: a failed push leaves them as they are
        from tasks.train.hub import push_model

        try:
            print(f"{'hub:':11} {push_model(summary['model'], repo_id)}")
        except HubUnavailable as exc:
            print_error(exc)
            return EXIT_FAILED
    return EXIT_OK
