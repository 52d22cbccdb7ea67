"""Activation memory, measured on tiny Mistral-shaped models on the CPU and scaled to Mistral-7B.

What a forward pass keeps for backward grows with layers x tokens x hidden size; measured per
layer, token and hidden unit (:mod:`tests.train.activation_memory`) it scales to the 7B model and
the mini-batch the KubeRay RayJob trains with, which must fit its GPUs. Also: peft's cast of every
LoRA input to float32 is off (it only added a bf16 copy of each input to the saved activations).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import torch
import yaml

from tests.train.activation_memory import bytes_per_layer_token_and_hidden_unit, mistral_shaped, saved_bytes_per_token

ROOT = Path(__file__).resolve().parents[2]
GIB = 2**30
MISTRAL_7B = {"hidden": 4096, "layers": 32, "parameters": 7.24e9}
PLANNED_GPU_GIB = 40  # the RayJob plans for a >= 40 GB GPU (A100, L40S, H100)


@pytest.fixture(scope="module")
def per_unit() -> dict[bool, float]:
    """Saved bytes per layer, token and hidden unit, without and with gradient checkpointing."""
    return {checkpointing: bytes_per_layer_token_and_hidden_unit(checkpointing=checkpointing)
            for checkpointing in (False, True)}


def rayjob_flags() -> dict[str, str | bool]:
    docs = yaml.safe_load_all((ROOT / "infra" / "cloud" / "kuberay-rayjob.yaml").read_text())
    [job] = [d for d in docs if d and d.get("kind") == "RayJob"]
    words, flags = shlex.split(job["spec"]["entrypoint"])[2:], {}
    for i, word in enumerate(words):
        if word.startswith("--"):
            following = words[i + 1] if i + 1 < len(words) else "--"
            flags[word] = True if following.startswith("--") else following
    return flags


def activation_gib(per_unit: dict[bool, float], checkpointing: bool, rows: int, seq: int) -> float:
    """Activations of one Mistral-7B mini-batch: every layer's saved tensors, and with checkpointing
    also one layer's full set while the backward pass recomputes it."""
    tokens_x_hidden = rows * seq * MISTRAL_7B["hidden"]
    kept = per_unit[checkpointing] * MISTRAL_7B["layers"] * tokens_x_hidden
    recompute = per_unit[False] * tokens_x_hidden if checkpointing else 0
    return (kept + recompute) / GIB


def test_checkpointing_keeps_a_fraction_of_each_layers_activations(per_unit):
    # Without checkpointing a bf16 layer keeps ~50 bytes per token and hidden unit (inputs of every
    # matmul, norm, activation); with it, little more than the layer's input.
    assert per_unit[False] > 40
    assert per_unit[True] < per_unit[False] / 4


def test_the_rayjobs_mistral_7b_mini_batches_fit_its_gpus_only_with_gradient_checkpointing(per_unit):
    flags = rayjob_flags()
    assert flags["--base-model"] == "mistralai/Mistral-7B-v0.1"
    rows, seq = int(flags["--mini-batch-size"]), int(flags.get("--max-length", 512))
    weights_gib = MISTRAL_7B["parameters"] * 2 / GIB  # bf16
    without = weights_gib + activation_gib(per_unit, False, rows, seq)
    with_checkpointing = weights_gib + activation_gib(per_unit, True, rows, seq)
    assert without > 80, f"{without:.0f} GiB"  # more than any 80 GB GPU holds: the run dies at its first step
    assert with_checkpointing < PLANNED_GPU_GIB, f"{with_checkpointing:.0f} GiB"
    assert flags.get("--gradient-checkpointing") is True, (
        f"the RayJob trains {rows} x {seq} tokens per mini-batch without --gradient-checkpointing: "
        f"~{without:.0f} GiB per GPU (with it: ~{with_checkpointing:.0f} GiB)")


def _force_lora_input_cast(model) -> None:
    """peft's default, which training turns off: every LoRA input cast to the LoRA weights' dtype."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            module.cast_input_dtype_enabled = True


def test_lora_inputs_are_not_cast_to_float32_which_saves_a_tenth_of_the_activations():
    cast = mistral_shaped(layers=4)
    _force_lora_input_cast(cast)
    kept_with_cast = saved_bytes_per_token(cast)
    kept = saved_bytes_per_token(mistral_shaped(layers=4))
    assert kept < 0.92 * kept_with_cast, f"{kept:.0f} vs {kept_with_cast:.0f} bytes per token"


def _lora_gradients(model) -> torch.Tensor:
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:  # non-zero, so that lora_A's gradients are too
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    ids = torch.randint(3, 256, (2, 64), generator=generator)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids))
    (out * torch.linspace(-1, 1, out.shape[1])).sum().backward()
    return torch.cat([p.grad.flatten() for p in model.parameters() if p.requires_grad])


def test_without_the_cast_every_lora_gradient_is_unchanged():
    # bf16 -> float32 -> bf16 is exact, so the LoRA matmuls see the same operands either way.
    cast = mistral_shaped(layers=2)
    _force_lora_input_cast(cast)
    expected, actual = _lora_gradients(cast), _lora_gradients(mistral_shaped(layers=2))
    assert bool((expected != 0).all()) or expected.count_nonzero() > 0.9 * expected.numel()
    torch.testing.assert_close(actual, expected, rtol=1e-3, atol=1e-6)


def test_a_bf16_model_with_float32_lora_encodes_without_autocast():
    # encode() and the export's check run outside the training loop's autocast; the forward pass
    # autocasts itself, since the LoRA layers no longer cast their bf16 inputs.
    model = mistral_shaped(layers=1)
    ids = torch.randint(3, 256, (2, 16))
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=torch.ones_like(ids))
    assert out.dtype == torch.float32 and torch.allclose(out.norm(dim=1), torch.ones(2))
