"""One LoRA + GradCache step on a Mistral-7B-shaped model (random weights, bf16): tokens/s, memory, MFU.

MFU counts the FLOPs the step needs, never recomputation. Per token, for a frozen base with LoRA:

* base weights: forward 2·N, backward to the activations 2·N, no weight gradients: **4·N**, with N
  the non-embedding parameters (the embedding table is a lookup; an embedding model has no LM head);
* LoRA: forward 2·N_lora, backward to activations and weights 4·N_lora: **6·N_lora**;
* attention scores and values: 4·s·d per layer forward at sequence s and width d, halved by the
  causal mask, and its backward twice its forward: **6·L·s·d**.

Hardware FLOPs add what the step does twice: GradCache's gradient-free pass (Step 1 embeds every
row but the kept mini-batch once more) and gradient checkpointing's recompute (one more forward of
every row). They are reported beside MFU (as HFU), never inside it. The peak is the card's dense
bf16 datasheet figure, by device name (:data:`PEAK_BF16_TFLOPS`; H100 SXM and H200: 989), not what
a matmul measures (~790-800 on these machines).

    python tests/gpu/step_mfu.py --shape mistral-7b --seq 512 --batch 64 --mini-batch 16   # on a GPU
    python tests/gpu/step_mfu.py --shape tiny --device cpu --seq 32 --batch 4 --mini-batch 2 --peak-tflops 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from functools import partial
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from tasks.train.grad_cache import Autocast, grad_cache_step  # noqa: E402
from tasks.train.model import EmbeddingModel, apply_lora, default_attention, enable_checkpointing  # noqa: E402

SHAPES = {  # MistralConfig arguments
    "mistral-7b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=8, vocab_size=32000, max_position_embeddings=32768),
    "tiny": dict(hidden_size=64, intermediate_size=224, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=1, vocab_size=1000, max_position_embeddings=512),
}
# Dense (no sparsity) bf16 tensor-core peaks from the datasheets, TFLOP/s; the first name that
# occurs in the device name wins, so the specific variants come first.
PEAK_BF16_TFLOPS = [("H100 PCIe", 756.0), ("H100 NVL", 835.0), ("H200", 989.0), ("H100", 989.0),
                    ("A100", 312.0), ("L40S", 362.0), ("A10G", 70.0)]


def peak_tflops(device_name: str) -> float | None:
    """The dense bf16 peak of the card called ``device_name`` (``torch.cuda.get_device_name``), or None.

    >>> [peak_tflops(n) for n in ("NVIDIA H100 80GB HBM3", "NVIDIA H200", "NVIDIA H100 PCIe", "cpu")]
    [989.0, 989.0, 756.0, None]
    """
    return next((peak for name, peak in PEAK_BF16_TFLOPS if name in device_name), None)


def model_flops_per_token(non_embedding: int, lora: int, layers: int, seq: int, hidden: int) -> float:
    """FLOPs one token needs in a LoRA training step on a frozen base: 4·N + 6·N_lora + 6·L·s·d.

    >>> model_flops_per_token(non_embedding=1000, lora=10, layers=2, seq=8, hidden=4)
    4444.0
    """
    return 4.0 * non_embedding + 6.0 * lora + 6.0 * layers * seq * hidden


def forward_flops_per_token(non_embedding: int, lora: int, layers: int, seq: int, hidden: int) -> float:
    """One more forward pass: 2·N + 2·N_lora + 2·L·s·d (causal attention)."""
    return 2.0 * non_embedding + 2.0 * lora + 2.0 * layers * seq * hidden


def hardware_flops_per_token(non_embedding: int, lora: int, layers: int, seq: int, hidden: int,
                             grad_cache_share: float, checkpointing: bool) -> float:
    """Model FLOPs plus the forward passes done again: GradCache's gradient-free pass over
    ``grad_cache_share`` of the tokens (all but the kept mini-batch) and checkpointing's recompute.

    >>> hardware_flops_per_token(1000, 10, 2, 8, 4, grad_cache_share=1.0, checkpointing=True)
    8740.0
    """
    again = grad_cache_share + (1.0 if checkpointing else 0.0)
    return (model_flops_per_token(non_embedding, lora, layers, seq, hidden)
            + again * forward_flops_per_token(non_embedding, lora, layers, seq, hidden))


def count_parameters(model) -> tuple[int, int]:
    """(non-embedding base parameters, LoRA parameters) of an :class:`EmbeddingModel`."""
    embedding = {id(p) for p in model.backbone.get_input_embeddings().parameters()}
    lora = sum(p.numel() for n, p in model.named_parameters() if "lora_" in n)
    base = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n and id(p) not in embedding)
    return base, lora


def build_model(shape: str, device: torch.device, gradient_checkpointing: bool = False) -> EmbeddingModel:
    """The model training builds, at ``shape`` with random weights: a Mistral base (bf16 on a GPU,
    float32 on the CPU; :func:`default_attention`) with LoRA r16 (alpha 32) on every linear layer.

    Seeded: every call builds the same weights, so two measurements can each build their own copy.
    """
    from transformers import AutoModel, MistralConfig

    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    config = MistralConfig(**SHAPES[shape], attn_implementation=default_attention(device, dtype))
    torch.manual_seed(0)
    with torch.device(device):  # initialised where it runs: a 7B model never passes through host memory
        backbone = AutoModel.from_config(config, dtype=dtype)
    if gradient_checkpointing:
        enable_checkpointing(backbone)
    return EmbeddingModel(apply_lora(backbone, rank=16, alpha=32)).train()


def mixed_precision(device: torch.device) -> Autocast:
    """bf16 autocast on a GPU, none on the CPU (float32), as the training loop runs it."""
    return partial(torch.autocast, device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")


def lora_step(model: EmbeddingModel, optimizer: torch.optim.Optimizer, queries: dict, documents: dict,
              mini_batch: int, mini_batch_tokens: int | None = None, no_grad_scale: int = 2) -> None:
    """One training step as the loop takes it: zeroed gradients, GradCache over the whole contrastive
    batch (one autocast region per forward phase), one optimizer step."""
    device = next(model.parameters()).device
    optimizer.zero_grad(set_to_none=True)
    grad_cache_step(lambda b: model(**b), queries, documents, mini_batch, mini_batch_tokens=mini_batch_tokens,
                    no_grad_scale=no_grad_scale, autocast=mixed_precision(device))
    optimizer.step()


def seconds_per_step(step: Callable[[], None], steps: int, device: torch.device) -> float:
    """Mean wall seconds of ``steps`` calls of ``step``, after one untimed warm-up call (kernels,
    allocator). A GPU runs asynchronously: it is synchronised before the clock starts and before it
    stops, and its peak-memory counter restarts after the warm-up (read it with :func:`peak_gib`)."""
    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    step()
    synchronize()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize()
    return (time.perf_counter() - started) / steps


def peak_gib(device: torch.device) -> float | None:
    """The most GPU memory tensors held since the last reset, GiB; None on the CPU."""
    return round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=SHAPES, default="mistral-7b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64, help="queries per contrastive batch (documents: as many)")
    parser.add_argument("--mini-batch", type=int, default=16)
    parser.add_argument("--no-grad-scale", type=int, default=2, help="Step 1's mini-batches, this many times larger")
    parser.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up")
    parser.add_argument("--peak-tflops", type=float, default=None, help="default: by device name (dense bf16)")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    args = parser.parse_args()

    device = torch.device(args.device)
    model = build_model(args.shape, device, args.gradient_checkpointing)
    config = model.backbone.config
    non_embedding, lora = count_parameters(model)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)

    def inputs(rows: int) -> dict:
        ids = torch.randint(3, config.vocab_size, (rows, args.seq), device=device)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    seconds = seconds_per_step(lambda: lora_step(model, optimizer, inputs(args.batch), inputs(args.batch),
                                                 args.mini_batch, no_grad_scale=args.no_grad_scale),
                               args.steps, device)
    tokens = 2 * args.batch * args.seq
    shape = dict(non_embedding=non_embedding, lora=lora, layers=config.num_hidden_layers, seq=args.seq,
                 hidden=config.hidden_size)
    rows = 2 * args.batch
    # GradCache's gradient-free pass embeds every row but the kept mini-batch (none when the batch fits one pass).
    grad_cache_share = 0.0 if args.batch <= args.mini_batch else (rows - args.mini_batch) / rows
    model_flops = model_flops_per_token(**shape) * tokens / seconds
    hardware_flops = hardware_flops_per_token(**shape, grad_cache_share=grad_cache_share,
                                              checkpointing=args.gradient_checkpointing) * tokens / seconds
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    peak = args.peak_tflops or peak_tflops(name)
    print(json.dumps({
        "shape": args.shape, "device": name, "seq": args.seq, "batch": args.batch, "mini_batch": args.mini_batch,
        "no_grad_scale": args.no_grad_scale, "gradient_checkpointing": args.gradient_checkpointing,
        "attention": config._attn_implementation, "non_embedding_params": non_embedding, "lora_params": lora,
        "s_per_step": round(seconds, 3), "tokens_per_s": round(tokens / seconds, 1),
        "model_tflops": float(f"{model_flops / 1e12:.4g}"), "hardware_tflops": float(f"{hardware_flops / 1e12:.4g}"),
        "peak_tflops": peak,
        "mfu": float(f"{model_flops / (peak * 1e12):.3g}") if peak else None,
        "hfu": float(f"{hardware_flops / (peak * 1e12):.3g}") if peak else None,
        "peak_gib": peak_gib(device),
    }))


if __name__ == "__main__":
    main()
