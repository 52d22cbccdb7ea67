"""One LoRA + GradCache step on a Mistral-7B-shaped model (random weights, bf16): tokens/s, memory, MFU.

Model FLOPs per token are those the step needs without recomputation: the forward pass
(2 × parameters + attention) and the backward pass to the activations (the same again; the
frozen base needs no weight gradients, LoRA's are negligible). GradCache's second forward is
recomputation and is not counted, so MFU is conservative. MFU = model FLOPs/s ÷ the card's
peak (``--peak-tflops``, H200 bf16 dense: 989; the project's budget figure: 790).

    python tests/gpu/step_mfu.py --shape mistral-7b --seq 512 --batch 64 --mini-batch 16   # on a GPU
    python tests/gpu/step_mfu.py --shape tiny --device cpu --seq 32 --batch 4 --mini-batch 2  # a CPU check
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

SHAPES = {  # LlamaConfig/MistralConfig arguments
    "mistral-7b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                       num_key_value_heads=8, vocab_size=32000, max_position_embeddings=32768),
    "tiny": dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2, vocab_size=1000, max_position_embeddings=512),
}


def flops_per_token(config, parameters: int, seq: int) -> float:
    """Forward + backward-to-activations FLOPs per token: 2 × (2N + attention scores and values)."""
    attention = 2 * config.num_hidden_layers * seq * config.hidden_size  # QK^T and AV: 4·L·s·d, halved (causal)
    return 2 * (2 * parameters + attention)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=SHAPES, default="mistral-7b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--batch", type=int, default=64, help="queries per contrastive batch (documents: as many)")
    parser.add_argument("--mini-batch", type=int, default=16)
    parser.add_argument("--steps", type=int, default=2, help="timed steps after one warm-up")
    parser.add_argument("--peak-tflops", type=float, default=790.0)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    args = parser.parse_args()

    import torch
    from transformers import AutoModel, MistralConfig

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tasks.train.grad_cache import grad_cache_step
    from tasks.train.model import EmbeddingModel, apply_lora, default_attention

    device = torch.device(args.device)
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    config = MistralConfig(**SHAPES[args.shape], attn_implementation=default_attention(device))
    torch.manual_seed(0)
    with torch.device(device):
        backbone = AutoModel.from_config(config, dtype=dtype)
    if args.gradient_checkpointing:
        backbone.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model = EmbeddingModel(apply_lora(backbone, rank=16, alpha=32)).train()
    base_parameters = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-4)

    def inputs(rows: int) -> dict:
        ids = torch.randint(3, config.vocab_size, (rows, args.seq), device=device)
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids)}

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
            grad_cache_step(lambda b: model(**b), inputs(args.batch), inputs(args.batch), args.mini_batch)
        optimizer.step()

    synchronize = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    step()  # warm-up: kernels, allocator
    synchronize()
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    synchronize()
    seconds = (time.perf_counter() - started) / args.steps
    tokens = 2 * args.batch * args.seq
    achieved = flops_per_token(config, base_parameters, args.seq) * tokens / seconds
    print(json.dumps({
        "shape": args.shape, "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "seq": args.seq, "batch": args.batch, "mini_batch": args.mini_batch, "s_per_step": round(seconds, 3),
        "tokens_per_s": round(tokens / seconds, 1), "model_tflops": float(f"{achieved / 1e12:.4g}"),
        "mfu": float(f"{achieved / (args.peak_tflops * 1e12):.3g}"),
        "peak_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None,
    }))


if __name__ == "__main__":
    main()
