"""Activation memory measured on the CPU: the bytes a forward pass leaves alive for its backward pass.

Every tensor storage an operator creates inside :class:`LiveStorages` is recorded by a weak
reference; after the forward pass, those still alive (less the output itself) are what autograd
keeps: saved activations, and with non-reentrant gradient checkpointing the layer inputs it
holds for the recompute. That is the figure GPU memory follows, measured without a GPU.

    with LiveStorages() as live:
        out = model(**inputs)
    live.bytes(exclude=[out]) / tokens
"""

from __future__ import annotations

import torch
from torch.multiprocessing.reductions import StorageWeakRef
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten


class LiveStorages(TorchDispatchMode):
    """Records the storage of every tensor an operator returns while the mode is active."""

    def __init__(self) -> None:
        super().__init__()
        self.storages: dict[int, tuple[StorageWeakRef, int]] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for tensor in tree_flatten(out)[0]:
            if isinstance(tensor, torch.Tensor):
                storage = tensor.untyped_storage()
                self.storages.setdefault(storage._cdata, (StorageWeakRef(storage), storage.nbytes()))
        return out

    def bytes(self, exclude: list[torch.Tensor] = ()) -> int:
        """Bytes of the recorded storages still alive, less those of ``exclude``."""
        excluded = {t.untyped_storage()._cdata for t in exclude}
        return sum(size for key, (ref, size) in self.storages.items() if not ref.expired() and key not in excluded)


def mistral_shaped(hidden: int = 64, layers: int = 2, checkpointing: bool = False, vocab: int = 256):
    """A random bf16 Mistral base (Mistral-7B's proportions: FFN 3.5 x hidden, 4 query heads per KV head,
    head dim hidden/heads) with float32 LoRA r16 on every linear layer, as training builds it."""
    from transformers import AutoModel, MistralConfig

    from tasks.train.model import EmbeddingModel, apply_lora, enable_checkpointing

    config = MistralConfig(hidden_size=hidden, intermediate_size=hidden * 7 // 2, num_hidden_layers=layers,
                           num_attention_heads=hidden // 16, num_key_value_heads=max(1, hidden // 64),
                           vocab_size=vocab, attn_implementation="sdpa")
    torch.manual_seed(0)
    backbone = AutoModel.from_config(config, dtype=torch.bfloat16)
    if checkpointing:
        enable_checkpointing(backbone)
    return EmbeddingModel(apply_lora(backbone, rank=16, alpha=32)).train()


def saved_bytes_per_token(model, rows: int = 2, seq: int = 256, vocab: int = 256) -> float:
    """Bytes kept for backward per token by one bf16-autocast forward pass of ``model``."""
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(3, vocab, (rows, seq), generator=generator)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with LiveStorages() as live:
            out = model(input_ids=ids, attention_mask=torch.ones_like(ids))
        kept = live.bytes(exclude=[out])
    return kept / (rows * seq)


def bytes_per_layer_token_and_hidden_unit(hidden: int = 64, checkpointing: bool = False, seq: int = 256) -> float:
    """Saved bytes per layer, per token, per hidden unit: the difference between 4 and 2 layers,
    so embeddings, pooling and other per-model costs cancel. Scales to any Mistral-shaped model."""
    two = saved_bytes_per_token(mistral_shaped(hidden, 2, checkpointing), seq=seq)
    four = saved_bytes_per_token(mistral_shaped(hidden, 4, checkpointing), seq=seq)
    return (four - two) / 2 / hidden
