"""Embedding throughput of a 7B-shaped decoder (random weights, bf16): embeddings/s for short and long texts.

What evaluation and serving pay per text: the exported model (a merged base, no LoRA) under
:meth:`EmbeddingModel.forward` in inference mode, batches of equal-length rows (what
length-sorted batching gives), timed after one warm-up batch with the device synchronised.

    python tests/gpu/embed_throughput.py --shape mistral-7b                # on a GPU
    python tests/gpu/embed_throughput.py --shape tiny --device cpu --batches 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from step_mfu import SHAPES  # noqa: E402

CASES = {"short": (256, 32), "long": (32, 512)}  # name: (rows per batch, tokens per row)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shape", choices=SHAPES, default="mistral-7b")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--batches", type=int, default=5, help="timed batches per case")
    parser.add_argument("--scale", type=float, default=1.0, help="rows and tokens x this (tiny CPU runs)")
    args = parser.parse_args()

    import torch
    from transformers import AutoModel, MistralConfig

    from tasks.train.model import EmbeddingModel, default_attention

    device = torch.device(args.device)
    on_gpu = device.type == "cuda"
    dtype = torch.bfloat16 if on_gpu else torch.float32
    config = MistralConfig(**SHAPES[args.shape], attn_implementation=default_attention(device, dtype))
    torch.manual_seed(0)
    with torch.device(device):
        model = EmbeddingModel(AutoModel.from_config(config, dtype=dtype)).eval()
    synchronize = torch.cuda.synchronize if on_gpu else (lambda: None)
    name = torch.cuda.get_device_name(device) if on_gpu else "cpu"
    for case, (rows, seq) in CASES.items():
        rows, seq = max(1, int(rows * args.scale)), max(2, int(seq * args.scale))
        ids = torch.randint(3, config.vocab_size, (rows, seq), device=device)
        mask = torch.ones_like(ids)
        with torch.inference_mode():
            model(input_ids=ids, attention_mask=mask)  # warm-up
            synchronize()
            started = time.perf_counter()
            for _ in range(args.batches):
                out = model(input_ids=ids, attention_mask=mask)
            synchronize()
        seconds = (time.perf_counter() - started) / args.batches
        assert out.shape == (rows, config.hidden_size) and bool(torch.isfinite(out).all())
        print(json.dumps({"check": "embed", "case": case, "shape": args.shape, "device": name,
                          "attention": config._attn_implementation, "rows": rows, "seq": seq,
                          "embeddings_per_s": round(rows / seconds, 1), "tokens_per_s": round(rows * seq / seconds, 1),
                          "peak_gib": round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if on_gpu else None}))


if __name__ == "__main__":
    main()
