"""Our LoRA + GradCache step against sentence-transformers' CachedMultipleNegativesRankingLoss, on one device.

Issue 23's target for the lent GPU: at least 1.3 x the tokens/s of CachedMNRL run the way
sentence-transformers is fastest on a GPU, with padding-free inputs (``unpad_inputs``: each
mini-batch is one concatenated sequence, attended with flash-attention's variable-length kernel)
and mini-batches cut by tokens (``mini_batch_num_tokens``). The CPU comparison in BENCHMARKS.md
(tests/bench/bench_train.py) cannot say this: without flash-attention, sentence-transformers pads.

Both sides get the same everything but the training step:

* the same model, built twice by :func:`step_mfu.build_model` (random weights, seed 0: identical):
  a Mistral base, bf16 on a GPU, with LoRA r16 on every linear layer, no gradient checkpointing;
* the same contrastive batch: B queries and their B positives of random token ids whose lengths
  are drawn once, queries s/16..s/4 and positives s/4..s tokens. A real batch mixes short and
  long texts; that is where padding costs and padding-free inputs pay off;
* the same mini-batch budget T: ours ``mini_batch_tokens=T`` (padded tokens of length-sorted
  rows), CachedMNRL ``mini_batch_num_tokens=T`` (real tokens, rows in the batch's order); rows
  are unbounded on both sides, so tokens alone cut the mini-batches;
* the same temperature, AdamW over the LoRA weights, one warm-up step left out of the timing,
  the device synchronised around it (:func:`step_mfu.seconds_per_step`).

The baseline is what a sentence-transformers user runs: ``SentenceTransformer(Transformer, Pooling
("lasttoken"), Normalize)`` around the same peft model with peft's default casting of LoRA inputs
(ours turns it off: :func:`tasks.train.model.keep_lora_input_dtype`), the forward pass under bf16
autocast and the backward pass (where CachedMNRL re-embeds) outside it, as the Trainer runs them.
Its inputs are flattened by the module's own ``DataCollatorWithFlattening`` when the module can
unpad, which needs ``flash_attention_2`` (the flash-attn package). Attention is
:func:`tasks.train.model.default_attention` on both sides: flash-attention where importable, else
SDPA, and then sentence-transformers pads. The JSON line records which (``st_unpadded``); only
with ``st_unpadded: true`` is the ratio the one the target names (``baseline_as_specified``).

Tokens/s counts real (non-padding) tokens of queries and positives. Peak memory: the most the
timed steps held (weights included). The target is judged on a GPU only; on the CPU (tiny shape,
float32) the figures show that both steps run, nothing more.

    python tests/gpu/cached_mnrl_step.py                                       # on a GPU: 7B shape, seq 512
    python tests/gpu/cached_mnrl_step.py --shape tiny --device cpu --seq 32 --batch 8 --mini-batch-tokens 64 --steps 1
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from step_mfu import SHAPES, build_model, lora_step, mixed_precision, peak_gib, seconds_per_step  # noqa: E402

from tasks.train.info_nce import DEFAULT_TEMPERATURE  # noqa: E402

TARGET = 1.3  # ours over CachedMNRL, tokens/s (issue 23)

Rows = list[list[int]]  # token ids per text, no padding


def random_rows(count: int, shortest: int, longest: int, vocab_size: int, generator: torch.Generator) -> Rows:
    """``count`` texts of random token ids, each between ``shortest`` and ``longest`` tokens long.

    >>> rows = random_rows(3, 2, 5, 100, torch.Generator().manual_seed(0))
    >>> len(rows), all(2 <= len(r) <= 5 and min(r) >= 3 for r in rows)
    (3, True)
    """
    lengths = torch.randint(shortest, longest + 1, (count,), generator=generator).tolist()
    return [torch.randint(3, vocab_size, (n,), generator=generator).tolist() for n in lengths]


def padded(rows: Rows, device: torch.device) -> dict[str, torch.Tensor]:
    """Right-padded ``input_ids`` and ``attention_mask``, as both sides take padded inputs.

    >>> padded([[5, 6, 7], [8]], torch.device("cpu"))["attention_mask"].tolist()
    [[1, 1, 1], [1, 0, 0]]
    """
    pad = torch.nn.utils.rnn.pad_sequence
    ids = pad([torch.tensor(r) for r in rows], batch_first=True)
    mask = pad([torch.ones(len(r), dtype=torch.long) for r in rows], batch_first=True)
    return {"input_ids": ids.to(device), "attention_mask": mask.to(device)}


def flattened(transformer, rows: Rows, device: torch.device) -> dict:
    """The padding-free features sentence-transformers' ``Transformer.preprocess`` makes: its own
    collator concatenates the rows into one (1, total) sequence with ``cu_seq_lens`` boundaries."""
    features = transformer.data_collator([{"input_ids": r} for r in rows])
    features.pop("labels", None)  # the collator's language-modelling labels; preprocess drops them too
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in features.items()}


def check_trained(parameters: list[torch.nn.Parameter], side: str) -> None:
    """Every LoRA weight got a gradient: a step that silently trained nothing would time fast."""
    missing = sum(p.grad is None for p in parameters)
    if missing:
        raise SystemExit(f"{side}: {missing} of {len(parameters)} LoRA weights got no gradient")


def measure_ours(args, device: torch.device, queries: Rows, positives: Rows) -> dict:
    """Seconds per step and peak memory of our training step on the batch."""
    model = build_model(args.shape, device)
    lora = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(lora, lr=1e-4)
    q, d = padded(queries, device), padded(positives, device)
    rows = len(queries) + len(positives)  # no row limit: the token budget alone cuts
    seconds = seconds_per_step(lambda: lora_step(model, optimizer, q, d, rows, mini_batch_tokens=args.mini_batch_tokens,
                                                 no_grad_scale=args.no_grad_scale), args.steps, device)
    check_trained(lora, "ours")
    return {"s_per_step": seconds, "peak_gib": peak_gib(device), "attention": model.backbone.config._attn_implementation}


def with_peft_input_casting(peft_model):
    """Give the LoRA layers back peft's default: each input cast to the adapter's float32 (what
    a sentence-transformers user gets; our :func:`apply_lora` removes the cast, one of our levers)."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in peft_model.modules():
        if isinstance(module, BaseTunerLayer):
            module.cast_input_dtype_enabled = True
    return peft_model


def measure_cached_mnrl(args, device: torch.device, queries: Rows, positives: Rows) -> dict:
    """Seconds per step and peak memory of CachedMNRL on the batch, and whether its inputs were unpadded."""
    import sentence_transformers
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.losses import CachedMultipleNegativesRankingLoss
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    from tests.train.tiny import save_tiny_base

    with tempfile.TemporaryDirectory() as folder:
        # A Transformer module loads from a folder; a 7B model with random weights has none worth
        # writing (14.5 GB). It is built around a tiny stand-in (tokenizer included, unused: the
        # inputs are token ids), which then gets the model to measure.
        transformer = Transformer(str(save_tiny_base(Path(folder))))
    transformer.model = with_peft_input_casting(build_model(args.shape, device).backbone)
    # Assigning re-evaluates padding-free inputs against the model now held (flash-attention's
    # variable-length kernel, else a logged warning and padded inputs).
    transformer.unpad_inputs = True
    unpadded = bool(transformer.can_flatten_inputs)
    model = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(), "lasttoken"),
                                         Normalize()], device=str(device)).train()
    loss = CachedMultipleNegativesRankingLoss(model, scale=1 / DEFAULT_TEMPERATURE, mini_batch_size=args.batch,
                                              mini_batch_num_tokens=args.mini_batch_tokens)
    lora = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(lora, lr=1e-4)
    features = [flattened(transformer, rows, device) if unpadded else padded(rows, device)
                for rows in (queries, positives)]
    autocast = mixed_precision(device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast():  # the Trainer's autocast (accelerate's) covers the forward pass only
            value = loss(features, torch.empty(0))
        value.backward()  # CachedMNRL's Step 3: re-embeds every mini-batch from a hook on the loss
        optimizer.step()

    seconds = seconds_per_step(step, args.steps, device)
    check_trained(lora, "CachedMNRL")
    return {"s_per_step": seconds, "peak_gib": peak_gib(device), "unpadded": unpadded,
            "attention": transformer.config._attn_implementation, "version": sentence_transformers.__version__}


def release(device: torch.device) -> None:
    """Free the last measurement's model before the next one is built (two 7B copies need not fit)."""
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=SHAPES, default="mistral-7b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seq", type=int, default=512, help="the longest text, tokens")
    parser.add_argument("--batch", type=int, default=64, help="queries per contrastive batch (positives: as many)")
    parser.add_argument("--mini-batch-tokens", type=int, default=4096,
                        help="tokens per mini-batch, both sides (7B without checkpointing: ~27 GiB of activations)")
    parser.add_argument("--no-grad-scale", type=int, default=2, help="our Step 1's mini-batches, this many times larger")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per side, after one warm-up")
    args = parser.parse_args()
    if args.mini_batch_tokens < args.seq:
        parser.error("--mini-batch-tokens must hold one longest text (--seq)")

    from transformers import MistralConfig

    device = torch.device(args.device)
    generator = torch.Generator().manual_seed(0)
    vocab_size = MistralConfig(**SHAPES[args.shape]).vocab_size
    queries = random_rows(args.batch, max(2, args.seq // 16), max(2, args.seq // 4), vocab_size, generator)
    positives = random_rows(args.batch, max(2, args.seq // 4), args.seq, vocab_size, generator)
    tokens = sum(map(len, queries + positives))

    ours = measure_ours(args, device, queries, positives)
    release(device)
    st = measure_cached_mnrl(args, device, queries, positives)
    on_gpu = device.type == "cuda"
    ratio = st["s_per_step"] / ours["s_per_step"]  # the same tokens per step: the tokens/s ratio
    print(json.dumps({
        "check": "cached_mnrl", "shape": args.shape, "device": torch.cuda.get_device_name(device) if on_gpu else "cpu",
        "seq": args.seq, "batch": args.batch, "mini_batch_tokens": args.mini_batch_tokens, "tokens_per_step": tokens,
        "no_grad_scale": args.no_grad_scale,
        "attention": ours["attention"], "st_attention": st["attention"], "st_unpadded": st["unpadded"],
        "sentence_transformers": st["version"],
        "ours_tokens_per_s": round(tokens / ours["s_per_step"], 1), "ours_s_per_step": round(ours["s_per_step"], 3),
        "ours_peak_gib": ours["peak_gib"],
        "st_tokens_per_s": round(tokens / st["s_per_step"], 1), "st_s_per_step": round(st["s_per_step"], 3),
        "st_peak_gib": st["peak_gib"],
        "ratio": round(ratio, 3), "target": TARGET if on_gpu else None,
        "target_met": ratio >= TARGET if on_gpu else None,
        "baseline_as_specified": on_gpu and st["unpadded"],
    }))


if __name__ == "__main__":
    main()
