"""Where an evaluation runs: ``--device auto|cpu|cuda[:N]``, checked before any model loads, and
how a decoder is loaded and batched there.

``auto`` is the first CUDA device when there is one, else the CPU. On a GPU decoders load in
bfloat16 with PyTorch's SDPA, or flash-attention where the package is installed (as training
loads them: :func:`tasks.train.model.default_attention`); on the CPU in float32, as before, so
CPU scores do not move. Batches are cut by rows *and* padded tokens
(:func:`tasks.train.mini_batches.plan_mini_batches`), longest first: a GPU batch of 32 short
queries and one of 32 documents of 512 tokens then cost about the same memory.

>>> resolve_device("cpu")
'cpu'
>>> resolve_device("cuda:x")
Traceback (most recent call last):
...
tasks.evaluate.devices.DeviceError: --device 'cuda:x': use auto, cpu, cuda or cuda:N (N a device number)
>>> decoder_dtype_name("cpu"), decoder_dtype_name("cuda:0")
('float32', 'bfloat16')
"""

from __future__ import annotations

import re

DEVICE_FORM = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
# Padded tokens per forward pass (rows x longest row); CPU batches of 16 x 512 stay under it.
DEFAULT_BATCH_TOKENS = 16384


class DeviceError(ValueError):
    """A ``--device`` that is malformed or not on this machine; the message names it and what is allowed."""


def cuda_count() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def check_device_form(name: str) -> str:
    """``name`` if it is written as a device (auto, cpu, cuda, cuda:N), else DeviceError; no torch needed."""
    if not DEVICE_FORM.match(name or ""):
        raise DeviceError(f"--device {name!r}: use auto, cpu, cuda or cuda:N (N a device number)")
    return name


def resolve_device(name: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; ``cuda[:N]`` only if that device exists."""
    name = check_device_form(name)
    if name == "cpu":
        return "cpu"
    count = cuda_count()
    if name == "auto":
        return "cuda" if count else "cpu"
    index = int(name.partition(":")[2] or 0)
    if index >= count:
        visible = f"{count} CUDA device(s) visible" if count else "no CUDA device visible"
        raise DeviceError(f"--device {name}: not on this machine ({visible}); use auto or cpu"
                          + (f", or cuda:0..cuda:{count - 1}" if count else ""))
    return name


def decoder_dtype_name(device: str) -> str:
    """bfloat16 on a GPU (what the 7B models are trained in), float32 on the CPU (bf16 matmuls are slow there)."""
    return "bfloat16" if device.startswith("cuda") else "float32"


def decoder_load_options(device: str) -> dict:
    """``dtype`` and ``attn_implementation`` for a decoder's ``from_pretrained`` on ``device``."""
    import torch

    from tasks.train.model import default_attention

    dtype = getattr(torch, decoder_dtype_name(device))
    return {"dtype": dtype, "attn_implementation": default_attention(torch.device(device), dtype)}


def embed_in_token_batches(model, tokenizer, texts: list[str], device: str, max_length: int, max_rows: int,
                           max_tokens: int):
    """A decoder's unit vectors (float32, numpy) for already formatted ``texts``, in the order given.

    Tokenized once (EOS appended, left padding), cut into batches of at most ``max_rows`` rows and
    ``max_tokens`` padded tokens, longest first, each batch trimmed to its own longest row
    (:mod:`tasks.train.mini_batches`). ``model``: an :class:`tasks.train.model.EmbeddingModel` on ``device``.
    """
    import torch

    from tasks.train.mini_batches import embed_in_order, plan_for
    from tasks.train.text import tokenize_with_eos

    inputs = tokenize_with_eos(tokenizer, texts, max_length, "left")

    def embed(batch: dict) -> torch.Tensor:
        return model(**{key: value.to(device) for key, value in batch.items()}).float().cpu()

    with torch.inference_mode():
        return embed_in_order(embed, inputs, plan_for(inputs, max_rows, max_tokens)).numpy()
