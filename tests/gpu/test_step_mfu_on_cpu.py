"""The prepared GPU step script: its FLOPs formula, its peak, and a run on the CPU with a tiny shape."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from step_mfu import SHAPES, count_parameters, hardware_flops_per_token, model_flops_per_token, peak_tflops  # noqa: E402

SCRIPT = Path(__file__).with_name("step_mfu.py")


def test_mistral_7b_counts_its_non_embedding_and_lora_parameters():
    from transformers import AutoModel, MistralConfig

    from tasks.train.model import EmbeddingModel, apply_lora

    with torch.device("meta"):
        backbone = AutoModel.from_config(MistralConfig(**SHAPES["mistral-7b"]))
    non_embedding, lora = count_parameters(EmbeddingModel(apply_lora(backbone, rank=16, alpha=32)))
    assert round(non_embedding / 1e9, 2) == 6.98  # 7.24B less the embedding table and the LM head, 131M each
    assert round(lora / 1e6, 1) == 41.9  # REFERENCE §3: ~42M trainable at rank 16 on all linear layers
    # 4·N + 6·N_lora + 6·L·s·d at s = 512: the frozen base costs two thirds of a full fine-tune's 6·N.
    flops = model_flops_per_token(non_embedding, lora, layers=32, seq=512, hidden=4096)
    assert flops == 4 * non_embedding + 6 * lora + 6 * 32 * 512 * 4096
    assert 0.66 < flops / (6 * non_embedding) < 0.70


def test_the_formula_counts_the_linear_layers_flops_of_a_real_step():
    # torch's FLOP counter on a forward + backward of a frozen base with LoRA: the formula's 4·N + 6·N_lora
    # per token, less the first layer's input gradient, which nothing needs.
    from torch.utils.flop_counter import FlopCounterMode

    from tests.train.activation_memory import mistral_shaped

    layers, rows, seq = 4, 2, 32
    model = mistral_shaped(hidden=64, layers=layers).float()
    non_embedding, lora = count_parameters(model)
    ids = torch.randint(3, 256, (rows, seq))
    with FlopCounterMode(display=False) as counter:
        model(input_ids=ids, attention_mask=torch.ones_like(ids)).sum().backward()
    counted = counter.get_flop_counts()["Global"]
    matmuls = sum(v for op, v in counted.items() if "mm" in str(op) and "attention" not in str(op))
    linear = (4 * non_embedding + 6 * lora) * rows * seq
    assert 1 - 1 / layers < matmuls / linear <= 1.0


def test_hardware_flops_add_the_gradient_free_pass_and_the_recompute():
    shape = dict(non_embedding=1000, lora=10, layers=2, seq=8, hidden=4)
    model = model_flops_per_token(**shape)
    forward = 2 * 1000 + 2 * 10 + 2 * 2 * 8 * 4
    assert hardware_flops_per_token(**shape, grad_cache_share=0.0, checkpointing=False) == model
    assert hardware_flops_per_token(**shape, grad_cache_share=0.75, checkpointing=True) == model + 1.75 * forward


@pytest.mark.parametrize(("name", "peak"), [("NVIDIA H100 80GB HBM3", 989.0), ("NVIDIA H200", 989.0),
                                            ("NVIDIA H100 PCIe", 756.0), ("NVIDIA A100-SXM4-80GB", 312.0),
                                            ("cpu", None)])
def test_the_peak_is_the_datasheets_dense_bf16_figure_by_device_name(name, peak):
    assert peak_tflops(name) == peak


def test_the_mfu_step_script_runs_and_reports_its_figures():
    result = subprocess.run([sys.executable, str(SCRIPT), "--shape", "tiny", "--device", "cpu", "--seq", "16",
                             "--batch", "4", "--mini-batch", "2", "--steps", "1", "--peak-tflops", "1",
                             "--gradient-checkpointing"],
                            capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["tokens_per_s"] > 0 and figures["seq"] == 16 and figures["peak_tflops"] == 1
    assert 0 < figures["mfu"] < figures["hfu"] < 1  # recompute and the gradient-free pass are hardware FLOPs only
