"""What only a GPU can show: bf16 on the device, NCCL collectives, the current device's RNG.

Skipped without CUDA (this project's CI has none); ``tests/gpu/run.sh`` runs them on a GPU machine.
"""

from __future__ import annotations

from functools import partial

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


def test_bf16_grad_cache_on_the_gpu_gives_every_lora_weight_the_plain_steps_gradient():
    # A bf16 base with float32 LoRA as training loads it; lora_B non-zero so lora_A's gradients are too.
    tokenizer = make_tokenizer()
    model = EmbeddingModel(apply_lora(tiny_llama(len(tokenizer)).to(torch.bfloat16), rank=4, alpha=8)).cuda().train()
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.1)
    lora = [p for p in model.parameters() if p.requires_grad]
    q = {k: v.cuda() for k, v in tokenize_with_eos(tokenizer, TEXTS[:3], 64).items()}
    d = {k: v.cuda() for k, v in tokenize_with_eos(tokenizer, TEXTS[3:] + TEXTS[:3], 64).items()}
    autocast = partial(torch.autocast, "cuda", dtype=torch.bfloat16)

    def plain() -> None:
        with autocast():
            q_, d_ = model(**q), model(**d)
        info_nce_loss(q_, d_).backward()

    grads = []
    for step in (plain, lambda: grad_cache_step(lambda b: model(**b), q, d, mini_batch_size=2, autocast=autocast)):
        model.zero_grad(set_to_none=True)
        step()
        # Every LoRA weight, none filtered out: a missing gradient is the failure this test is for.
        missing = [i for i, p in enumerate(lora) if p.grad is None or not p.grad.abs().sum() > 0]
        assert missing == [], f"{len(missing)} of {len(lora)} LoRA weights got no gradient"
        grads.append(torch.cat([p.grad.flatten() for p in lora]))
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


def test_last_token_pooling_takes_no_host_sync():
    from tasks.train.pooling import last_token_pool

    hidden = torch.randn(3, 5, 4, device="cuda")
    for mask in (torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]]),
                 torch.tensor([[0, 0, 1, 1, 1], [1, 1, 1, 1, 1], [0, 0, 0, 0, 1]])):
        mask = mask.cuda()
        torch.cuda.set_sync_debug_mode("error")
        try:
            pooled = last_token_pool(hidden, mask)
        finally:
            torch.cuda.set_sync_debug_mode("default")
        columns = [max(i for i, m in enumerate(row) if m) for row in mask.tolist()]
        assert torch.equal(pooled, hidden[torch.arange(3), torch.tensor(columns)])
