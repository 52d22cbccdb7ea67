"""Mixed precision in GradCache: every LoRA weight gets its gradient under bf16 autocast.

GradCache embeds without grad (Step 1), then again with grad (Step 3). Autocast caches the bf16
copy of each trainable weight until its outermost region exits; torch builds without
pytorch#165068 reuse a copy made under ``no_grad`` (no autograd history) in the grad pass, so
LoRA got no gradient when one region held both passes. ``grad_cache_step`` now enters a region
of its own for each forward phase. This torch has the fix, so the old cache is emulated here
(:class:`PreFixWeightCache`) to show that the regions, not the torch version, keep the gradients.
"""

from __future__ import annotations

from contextlib import contextmanager
from functools import partial

import pytest
import torch
import torch.nn.functional as F

from tasks.train.grad_cache import grad_cache_step
from tasks.train.info_nce import info_nce_loss
from tasks.train.model import EmbeddingModel, apply_lora
from tasks.train.text import tokenize_with_eos
from tests.train.tiny import make_tokenizer, save_tiny_base, tiny_llama

TEXTS = [f"text {i}: the quick brown fox " + "jumps over the lazy dog " * (i % 4) for i in range(12)]
BF16_AUTOCAST = partial(torch.autocast, "cpu", dtype=torch.bfloat16)


def bf16_lora_model(tokenizer) -> EmbeddingModel:
    """A bf16 base with float32 LoRA (as on the GPU), lora_B drawn non-zero so that lora_A's gradients are too."""
    model = EmbeddingModel(apply_lora(tiny_llama(len(tokenizer)).to(torch.bfloat16), rank=4, alpha=8)).train()
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.1)
    return model


def lora_parameters(model) -> dict[str, torch.Tensor]:
    return {name: p for name, p in model.named_parameters() if p.requires_grad}


def inputs(tokenizer):
    return tokenize_with_eos(tokenizer, TEXTS[:4], 64), tokenize_with_eos(tokenizer, TEXTS[4:], 64)  # 4 q, 8 d


def missing_gradients(model) -> list[str]:
    """LoRA parameters whose gradient is None, zero or not finite."""
    return [name for name, p in lora_parameters(model).items()
            if p.grad is None or not torch.isfinite(p.grad).all() or not p.grad.abs().sum() > 0]


@pytest.mark.parametrize("no_grad_scale", [1, 2])
def test_every_lora_parameter_gets_a_gradient_under_bf16_autocast_with_several_mini_batches(no_grad_scale):
    tokenizer = make_tokenizer()
    model = bf16_lora_model(tokenizer)
    assert {p.dtype for p in lora_parameters(model).values()} == {torch.float32}
    queries, documents = inputs(tokenizer)
    loss = grad_cache_step(lambda b: model(**b), queries, documents, mini_batch_size=2, no_grad_scale=no_grad_scale,
                           autocast=BF16_AUTOCAST)
    assert torch.isfinite(loss) and len(lora_parameters(model)) == 28  # 7 linear layers x 2 layers x (A, B)
    assert missing_gradients(model) == []


def test_bf16_grad_cache_gradients_match_the_plain_bf16_step():
    tokenizer = make_tokenizer()
    model = bf16_lora_model(tokenizer)
    queries, documents = inputs(tokenizer)
    with BF16_AUTOCAST():
        q, d = model(**queries), model(**documents)
    info_nce_loss(q, d).backward()
    plain = torch.cat([p.grad.flatten() for p in lora_parameters(model).values()])
    model.zero_grad(set_to_none=True)
    grad_cache_step(lambda b: model(**b), queries, documents, mini_batch_size=2, autocast=BF16_AUTOCAST)
    cached = torch.cat([p.grad.flatten() for p in lora_parameters(model).values()])
    assert F.cosine_similarity(plain, cached, dim=0) > 0.99  # bf16 rounding differs with the batch cut


class PreFixWeightCache:
    """Autocast's weight cache as torch had it before pytorch#165068, for LoRA's linear layers.

    Inside an autocast region the first bf16 copy of each LoRA weight is cached, in whatever grad
    mode it was made (under ``no_grad``: without history), and reused until the region exits.
    """

    def __init__(self, model: torch.nn.Module):
        self.copies: dict[int, torch.Tensor] = {}
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Linear) and ".lora_" in name:
                module.forward = partial(self.linear, module)

    def linear(self, module: torch.nn.Linear, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_autocast_enabled("cpu"):
            return F.linear(x, module.weight, module.bias)
        if id(module) not in self.copies:
            self.copies[id(module)] = module.weight.to(torch.bfloat16)
        return F.linear(x.to(torch.bfloat16), self.copies[id(module)])

    @contextmanager
    def region(self):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            yield
        self.copies.clear()  # the cache lives until the outermost region exits


def test_one_region_around_both_passes_loses_the_lora_gradients_where_torch_caches_no_grad_casts():
    # Given torch's pre-fix weight cache, when one autocast region holds the whole GradCache step
    # (what the training loop did), then the LoRA weights get no gradient: the grad pass reuses
    # history-less copies, so its embeddings do not even require grad. The emulation shows the bug.
    tokenizer = make_tokenizer()
    model = bf16_lora_model(tokenizer)
    cache = PreFixWeightCache(model)
    queries, documents = inputs(tokenizer)
    with cache.region(), pytest.raises(RuntimeError, match="does not require grad"):
        grad_cache_step(lambda b: model(**b), queries, documents, mini_batch_size=2)
    assert len(missing_gradients(model)) == len(lora_parameters(model))


def test_a_region_per_forward_phase_keeps_every_lora_gradient_where_torch_caches_no_grad_casts():
    tokenizer = make_tokenizer()
    model = bf16_lora_model(tokenizer)
    cache = PreFixWeightCache(model)
    queries, documents = inputs(tokenizer)
    grad_cache_step(lambda b: model(**b), queries, documents, mini_batch_size=2, autocast=cache.region)
    assert missing_gradients(model) == []


def test_the_training_loop_hands_autocast_to_grad_cache_instead_of_wrapping_the_step(tmp_path, monkeypatch):
    from tasks.train import loop
    from tasks.train.config import TrainConfig
    from tasks.train.data import Pair
    from tasks.train.session import ProcessGroupSession

    class NoExport(ProcessGroupSession):
        def finish(self, model, tokenizer, config) -> None:
            pass

    save_tiny_base(tmp_path / "base")
    calls, real = [], loop.grad_cache_step

    def recording(*args, **kwargs):
        calls.append((torch.is_autocast_enabled("cpu"), kwargs.get("autocast")))
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "grad_cache_step", recording)
    monkeypatch.setattr(loop, "mixed_precision", lambda config, device: BF16_AUTOCAST)  # as on a GPU
    config = TrainConfig(data=["file:///unused/runs/r"], base_model=str(tmp_path / "base"), out=f"file://{tmp_path}/out",
                         batch_size=4, mini_batch_size=1, steps=1, max_length=32, lora_rank=4, lora_alpha=8)
    pairs = [Pair(f"query {i}", f"passage {i} about the fox", None) for i in range(4)]
    model = loop.train_loop({**config.to_dict(), "_base_path": str(tmp_path / "base")},
                            NoExport(tmp_path / "checkpoints", on_metrics=None), pairs)
    assert calls == [(False, BF16_AUTOCAST)]  # no region around the step: grad_cache_step opens its own
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
