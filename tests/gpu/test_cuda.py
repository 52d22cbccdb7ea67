"""What only a GPU can show: bf16 on the device, NCCL collectives, the current device's RNG.

Skipped without CUDA (this project's CI has none); ``tests/gpu/run.sh`` runs them on a GPU machine.
"""

from __future__ import annotations

import pytest
import torch

from tasks.train.grad_cache import RngState, grad_cache_step
from tasks.train.info_nce import info_nce_loss
from tasks.train.model import EmbeddingModel, apply_lora
from tasks.train.text import tokenize_with_eos
from tests.train.tiny import make_tokenizer, tiny_llama

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]
TEXTS = ["capital of Peru", "Lima is the capital of Peru. " * 5, "fox", "The quick brown fox jumps.", "dog", "vectors"]


def test_base_weights_load_onto_the_gpu_in_bf16_with_float32_lora(tmp_path):
    tokenizer = make_tokenizer()
    tiny_llama(len(tokenizer)).save_pretrained(tmp_path)
    model = EmbeddingModel.from_pretrained(str(tmp_path), lora_rank=4, dtype=torch.bfloat16, device="cuda")
    dtypes = {("lora" if "lora_" in n else "base"): p.dtype for n, p in model.named_parameters()}
    assert dtypes == {"base": torch.bfloat16, "lora": torch.float32}
    assert {p.device.type for p in model.parameters()} == {"cuda"}


def test_bf16_grad_cache_on_the_gpu_matches_the_plain_step():
    tokenizer = make_tokenizer()
    model = EmbeddingModel(apply_lora(tiny_llama(len(tokenizer)), rank=4, alpha=8)).cuda().train()
    q = {k: v.cuda() for k, v in tokenize_with_eos(tokenizer, TEXTS[:3], 64).items()}
    d = {k: v.cuda() for k, v in tokenize_with_eos(tokenizer, TEXTS[3:] + TEXTS[:3], 64).items()}
    grads = []
    for step in (lambda: info_nce_loss(model(**q), model(**d)).backward(),
                 lambda: grad_cache_step(lambda b: model(**b), q, d, mini_batch_size=2)):
        model.zero_grad(set_to_none=True)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            step()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert torch.nn.functional.cosine_similarity(grads[0], grads[1], dim=0) > 0.99


def test_rng_state_is_the_current_devices_only():
    torch.cuda.init()
    state = RngState()
    assert state.cuda_device == torch.cuda.current_device()
    with state.replay():
        first = torch.rand(4, device="cuda")
    with state.replay():
        assert torch.equal(torch.rand(4, device="cuda"), first)


def test_collectives_run_on_nccl_with_device_tensors(tmp_path):
    import torch.distributed as dist

    from tasks.train.collectives import count_tokens

    dist.init_process_group("nccl", init_method=f"file://{tmp_path}/rendezvous", rank=0, world_size=1)
    try:
        tokens = count_tokens([{"attention_mask": torch.ones(2, 3)}], torch.device("cuda", 0))
        assert tokens.device.type == "cuda" and float(tokens) == 6.0
    finally:
        dist.destroy_process_group()
