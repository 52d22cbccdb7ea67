"""On a GPU the evaluation loads decoders in bfloat16 with SDPA (or flash-attention) and embeds like the CPU.

Needs no mteb, Ray or Prefect, so that it runs on the lent GPU machines:
``python -m pytest -q --noconftest tests/evaluate/test_devices_cuda.py``; skipped without CUDA.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasks.evaluate.devices import decoder_load_options, embed_in_token_batches, resolve_device
from tasks.train.model import EmbeddingModel
from tests.train.tiny import make_tokenizer, save_tiny_base

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
TEXTS = ["Lima is the capital and largest city of Peru.", "fox", "Query: what is the capital of Peru",
         "The quick brown fox jumps over the lazy dog. " * 6]


def test_decoders_load_in_bf16_on_the_gpu_and_embed_like_the_cpu(tmp_path):
    folder = str(save_tiny_base(tmp_path / "tiny"))
    tokenizer, device = make_tokenizer(), resolve_device("auto")
    assert device.startswith("cuda")
    gpu = EmbeddingModel.from_pretrained(folder, lora_rank=None, device=device, **decoder_load_options(device)).eval()
    weights = next(gpu.parameters())
    assert weights.dtype == torch.bfloat16 and weights.device.type == "cuda"
    assert gpu.backbone.config._attn_implementation in ("sdpa", "flash_attention_2")
    cpu = EmbeddingModel.from_pretrained(folder, lora_rank=None, device="cpu", **decoder_load_options("cpu")).eval()
    on_gpu = embed_in_token_batches(gpu, tokenizer, TEXTS, device, 64, max_rows=2, max_tokens=64)
    on_cpu = embed_in_token_batches(cpu, tokenizer, TEXTS, "cpu", 64, max_rows=16, max_tokens=4096)
    cosines = (on_gpu * on_cpu).sum(axis=1)
    assert on_gpu.dtype == np.float32 and cosines.min() > 0.99, cosines  # bf16 rounding only
