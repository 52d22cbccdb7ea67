"""Benchmark one training step: GradCache against the plain full-batch step (the baseline).

For each base model and contrastive batch size, a fresh process loads the model, runs one
warm-up step and two timed steps, and reports seconds per step, tokens/s and peak memory
(max RSS). Ratios are against the plain step of the same model and batch, measured in the
same run. CPU, single process, LoRA r16 on all linear layers, max length 128.

    .venv/bin/python tests/bench/bench_train.py --data file://./data/runs/RUN_ID
    make bench
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path


def one_config(data: str, model: str, batch: int, mini_batch: int | None, max_length: int) -> dict:
    """Runs in its own process so that peak RSS belongs to this configuration alone."""
    import torch
    from transformers import AutoTokenizer

    from tasks.train.base_model import resolve_base_model
    from tasks.train.data import batch_schedule, load_pairs
    from tasks.train.grad_cache import grad_cache_step
    from tasks.train.info_nce import info_nce_loss
    from tasks.train.model import EmbeddingModel
    from tasks.train.text import tokenize_with_eos

    torch.manual_seed(0)
    path = resolve_base_model(model)
    encoder = EmbeddingModel.from_pretrained(path, lora_rank=16)
    encoder.train()
    tokenizer = AutoTokenizer.from_pretrained(path)
    optimizer = torch.optim.AdamW([p for p in encoder.parameters() if p.requires_grad], lr=1e-4)
    pairs = load_pairs([data])
    pairs = pairs * (1 + 2 * batch // len(pairs))  # timing only: small runs are repeated to fill a batch
    schedule = batch_schedule(pairs, batch, 3, seed=0)
    times, tokens = [], 0
    for step, pairs in enumerate(schedule):
        q = tokenize_with_eos(tokenizer, [p.query for p in pairs], max_length)
        d = tokenize_with_eos(tokenizer, [p.positive for p in pairs] + [p.negative for p in pairs if p.negative], max_length)
        started = time.perf_counter()
        optimizer.zero_grad()
        if mini_batch is None:  # baseline: one forward/backward over the whole batch
            info_nce_loss(encoder(**q), encoder(**d)).backward()
        else:
            grad_cache_step(lambda b: encoder(**b), q, d, mini_batch)
        optimizer.step()
        if step > 0:  # step 0 warms up allocators and kernels
            times.append(time.perf_counter() - started)
            tokens += int(q["attention_mask"].sum() + d["attention_mask"].sum())
    seconds = sum(times) / len(times)
    return {"s_per_step": seconds, "tokens_per_s": tokens / sum(times),
            "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="synthesis run URL")
    parser.add_argument("--models", default="smollm2-135m,embedded-qwen")
    parser.add_argument("--batches", default="8,32")
    parser.add_argument("--mini-batch", type=int, default=4)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration
    args = parser.parse_args()
    if args.one:
        model, batch, mini = json.loads(args.one)
        print(json.dumps(one_config(args.data, model, batch, mini, args.max_length)))
        return

    from tasks.report import format_table

    rows = []
    for model in args.models.split(","):
        for batch in map(int, args.batches.split(",")):
            results = {}
            for name, mini in (("plain (baseline)", None), (f"GradCache mb={args.mini_batch}", args.mini_batch)):
                out = subprocess.run([sys.executable, __file__, "--data", args.data, "--max-length", str(args.max_length),
                                      "--one", json.dumps([model, batch, mini])], capture_output=True, text=True)
                if out.returncode:
                    print(out.stderr[-2000:], file=sys.stderr)
                    raise SystemExit(out.returncode)
                results[name] = json.loads(out.stdout.strip().splitlines()[-1])
            base = results["plain (baseline)"]
            for name, r in results.items():
                rows.append({"model": model, "batch": batch, "step": name, "s/step": round(r["s_per_step"], 2),
                             "tokens/s": round(r["tokens_per_s"], 1), "peak GiB": round(r["peak_gib"], 2),
                             "time ratio": round(r["s_per_step"] / base["s_per_step"], 2),
                             "memory ratio": round(r["peak_gib"] / base["peak_gib"], 2)})
            print(format_table(rows[-2:]), flush=True)
    print("\n" + format_table(rows))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()
