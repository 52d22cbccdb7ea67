"""--device: checked before anything loads; decoders embed the same on every batch plan; bf16 on a GPU.

The CPU path runs here; the CUDA path is tests/evaluate/test_devices_cuda.py (no mteb: it runs on
the lent GPU machines, which lack it).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tasks.evaluate.baselines import LastTokenEncoder
from tasks.evaluate.devices import DeviceError, resolve_device
from tests.train.tiny import save_tiny_base

TEXTS = ["Lima is the capital and largest city of Peru.", "fox", "Query: what is the capital of Peru",
         "The quick brown fox jumps over the lazy dog. " * 6, "Embeddings map text to vectors."]


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    return str(save_tiny_base(tmp_path_factory.mktemp("tiny-base")))


@pytest.mark.parametrize("name, message", [
    ("gpu", "--device 'gpu': use auto, cpu, cuda or cuda:N"),
    ("cuda:", "--device 'cuda:': use auto, cpu, cuda or cuda:N"),
    ("cuda:7", "--device cuda:7: not on this machine"),
])
def test_a_device_that_is_not_there_is_one_clear_error(name, message):
    if name == "cuda:7" and torch.cuda.device_count() > 7:
        pytest.skip("this machine has eight GPUs")
    with pytest.raises(DeviceError, match=message.replace("(", r"\(")):
        resolve_device(name)


def test_auto_is_the_gpu_when_there_is_one():
    assert resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("cpu") == "cpu"


def test_token_budgets_cut_batches_without_changing_any_vector(tiny_base):
    """Given one decoder, when batches are cut by 2 rows, by a 64-token budget, or not at all,
    then every text gets the same vector, in the order given, float32 on the CPU."""
    whole = LastTokenEncoder(tiny_base, "t", max_length=64, batch_size=16, device="cpu", batch_tokens=4096)
    assert next(whole.model.parameters()).dtype == torch.float32
    expected = whole.embed_texts(TEXTS)
    for batch_size, batch_tokens in [(2, 4096), (16, 64), (1, 64)]:
        whole.batch_size, whole.batch_tokens = batch_size, batch_tokens
        assert np.allclose(whole.embed_texts(TEXTS), expected, atol=1e-5), (batch_size, batch_tokens)
    one_by_one = np.stack([whole.embed_texts([t])[0] for t in TEXTS])
    assert np.allclose(one_by_one, expected, atol=1e-5)
