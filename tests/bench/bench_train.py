"""Benchmark one GradCache training step: synthembed against sentence-transformers' CachedMNRL.

The baseline is sentence-transformers 6.2's ``CachedMultipleNegativesRankingLoss`` (the tool a
user would otherwise pick), measured in the same run on the same base model, LoRA (r16, all
linear layers), the same token ids (our tokenizer's, EOS appended), contrastive batch,
mini-batch rows and token budget, temperature (scale = 1/τ) and threads. Each configuration
runs in a fresh process: one warm-up step, then ``--steps`` timed steps over the same batches.
Reported: seconds per step, real (non-padding) tokens per second, peak RSS, and our speed over
the baseline's. A last row per model checks that our peak memory at batch 256 stays near batch 32.

    .venv/bin/python tests/bench/bench_train.py --data file://./data/runs/RUN_ID
    make bench-train
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

TEMPERATURE = 0.02


def batches_of(data: str, batch: int, count: int) -> list[list]:
    """``count`` batches of ``batch`` pairs, cycling through the run (timing only: small runs repeat)."""
    from tasks.train.data import load_pairs

    pairs = [p for p in load_pairs([data]) if p.negative is not None] or load_pairs([data])
    cycle = itertools.cycle(pairs)
    return [[next(cycle) for _ in range(batch)] for _ in range(count)]


def our_step(encoder, mini_batch: int, tokens: int | None, no_grad_scale: int):
    from tasks.train.grad_cache import grad_cache_step

    def step(q, positives, negatives):  # documents: the positives, then the hard negatives
        d = {k: _pad_cat(positives[k], negatives[k]) for k in q} if negatives else positives
        grad_cache_step(lambda b: encoder(**b), q, d, mini_batch, mini_batch_tokens=tokens,
                        no_grad_scale=no_grad_scale)
    return step


def _pad_cat(a, b):
    """Stack two right-padded (rows, L) tensors of different widths (padding with 0s: mask 0)."""
    import torch

    width = max(a.shape[1], b.shape[1])
    return torch.cat([torch.nn.functional.pad(t, (0, width - t.shape[1])) for t in (a, b)])


def st_step(path: str, mini_batch: int, tokens: int | None):
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    from tasks.train.model import apply_lora

    transformer = Transformer(path)
    transformer.model = apply_lora(transformer.model, rank=16, alpha=32)
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(), "lasttoken"),
                                         Normalize()], device="cpu")
    model.train()
    loss = CachedMultipleNegativesRankingLoss(model, scale=1 / TEMPERATURE, mini_batch_size=mini_batch,
                                              mini_batch_num_tokens=tokens)

    def step(q, positives, negatives):
        features = [q, positives] + ([negatives] if negatives else [])
        loss([dict(f) for f in features], torch.empty(0)).backward()
    return model, step


def one_config(data: str, model_name: str, batch: int, method: str, mini_batch: int, tokens: int | None,
               no_grad_scale: int, max_length: int, steps: int, threads: int) -> dict:
    """Runs in its own process so that peak RSS belongs to this configuration alone."""
    import torch
    from transformers import AutoTokenizer

    from tasks.train.base_model import resolve_base_model
    from tasks.train.model import EmbeddingModel
    from tasks.train.text import tokenize_with_eos

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    path = str(resolve_base_model(model_name))
    tokenizer = AutoTokenizer.from_pretrained(path)
    if method == "sentence-transformers":
        module, step = st_step(path, mini_batch, tokens)
    else:
        module = EmbeddingModel.from_pretrained(path, lora_rank=16)
        module.train()
        step = our_step(module, mini_batch, tokens, no_grad_scale)
    optimizer = torch.optim.AdamW([p for p in module.parameters() if p.requires_grad], lr=1e-4)

    def tokenized(texts):  # right padding, as sentence-transformers' collator pads
        return tokenize_with_eos(tokenizer, texts, max_length, padding_side="right")

    warm_up = batches_of(data, mini_batch * 2, 1)
    timed = batches_of(data, batch, steps)
    times, real_tokens = [], 0
    for index, pairs in enumerate(warm_up + timed):
        q, p = tokenized([x.query for x in pairs]), tokenized([x.positive for x in pairs])
        n = tokenized([x.negative for x in pairs]) if all(x.negative for x in pairs) else None
        started = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        step(q, p, n)
        optimizer.step()
        if index > 0:  # the warm-up step fills allocators and caches
            times.append(time.perf_counter() - started)
            real_tokens += sum(int(t["attention_mask"].sum()) for t in (q, p, n) if t is not None)
    return {"s_per_step": sum(times) / len(times), "tokens_per_s": real_tokens / sum(times),
            "peak_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


def run_one(args, model: str, batch: int, method: str, mini_batch: int, tokens: int | None, steps: int) -> dict:
    spec = [model, batch, method, mini_batch, tokens, args.no_grad_scale, steps]
    out = subprocess.run([sys.executable, __file__, "--data", args.data, "--max-length", str(args.max_length),
                          "--threads", str(args.threads), "--one", json.dumps(spec)], capture_output=True, text=True)
    if out.returncode:
        print(out.stderr[-3000:], file=sys.stderr)
        raise SystemExit(out.returncode)
    return json.loads(out.stdout.strip().splitlines()[-1])


def settings(cut: str, batch: int) -> tuple[int, int | None, str]:
    """(mini-batch rows, token budget, label) of ``rows:N`` or ``tokens:N``, the same for both methods.

    sentence-transformers packs a token budget by real tokens and then ignores mini_batch_size,
    so ``tokens:N`` lifts our row limit too (we count padded tokens: our mini-batches are the smaller).
    """
    kind, value = cut.split(":")
    if kind == "rows":
        return int(value), None, f"{value} rows"
    return 2 * batch, int(value), f"{value} tokens"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True, help="synthesis run URL")
    parser.add_argument("--models", default="embedded-qwen,smollm2-135m")
    parser.add_argument("--batches", default="128,32")
    parser.add_argument("--cuts", default="rows:8,tokens:1024",
                        help="how mini-batches are cut, the same for both: rows:N and/or tokens:N (default: both)")
    parser.add_argument("--token-cut-models", default="smollm2-135m", help="models also measured with tokens:N")
    parser.add_argument("--no-grad-scale", type=int, default=2, help="our Step-1 mini-batch multiple (default: 2)")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--steps", type=int, default=1, help="timed steps per configuration (default: 1)")
    parser.add_argument("--memory-batches", default="32,256", help="our peak memory at these batches (rows:8)")
    parser.add_argument("--memory-models", default="smollm2-135m", help="models of the memory check")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--one", help=argparse.SUPPRESS)  # internal: run one configuration
    args = parser.parse_args()
    if args.one:
        model, batch, method, mini, tokens, scale, steps = json.loads(args.one)
        print(json.dumps(one_config(args.data, model, batch, method, mini, tokens, scale, args.max_length,
                                    steps, args.threads)))
        return

    from tasks.common.report import format_table

    rows = []
    for model in args.models.split(","):
        cuts = [c for c in args.cuts.split(",") if c.startswith("rows") or model in args.token_cut_models.split(",")]
        for batch, cut in itertools.product(map(int, args.batches.split(",")), cuts):
            mini, tokens, label = settings(cut, batch)
            base = run_one(args, model, batch, "sentence-transformers", mini, tokens, args.steps)
            ours = run_one(args, model, batch, "synthembed", mini, tokens, args.steps)
            for name, r in (("sentence-transformers CachedMNRL (baseline)", base), ("synthembed grad_cache_step", ours)):
                rows.append({"model": model, "batch": batch, "mini-batches": label, "step": name,
                             "s/step": round(r["s_per_step"], 2), "tokens/s": round(r["tokens_per_s"], 1),
                             "peak GiB": round(r["peak_gib"], 2),
                             "speed vs baseline": round(base["s_per_step"] / r["s_per_step"], 2)})
            print(format_table(rows[-2:]), flush=True)
        if model in args.memory_models.split(","):
            small, large = (run_one(args, model, int(b), "synthembed", 8, None, 1) for b in args.memory_batches.split(","))
            rows.append({"model": model, "batch": args.memory_batches.replace(",", " vs "), "mini-batches": "8 rows",
                         "step": "synthembed: peak memory, large batch vs small", "s/step": round(large["s_per_step"], 2),
                         "tokens/s": round(large["tokens_per_s"], 1), "peak GiB": round(large["peak_gib"], 2),
                         "speed vs baseline": f"memory x{large['peak_gib'] / small['peak_gib']:.2f}"})
            print(format_table(rows[-1:]), flush=True)
    print("\n" + format_table(rows))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    main()
