"""The embedding model: a decoder-only LLM (base model, no LM head) + LoRA + last-token pooling.

REFERENCE §3: LoRA of rank 16 on all linear layers, the embedding is the last layer's hidden
state at the appended EOS, L2-normalised so that a dot product is a cosine similarity.

    model = EmbeddingModel.from_pretrained("mistralai/Mistral-7B-v0.1", gradient_checkpointing=True)
    q = model.encode([format_query(task, "capital of Peru")], tokenizer)   # (1, H), unit rows
    d = model.encode(["Lima is the capital of Peru."], tokenizer)
    (q @ d.T).item()                                                         # cosine similarity

Training calls the module itself on token tensors (under DDP, the wrapper, so that its hooks
run): ``embeddings = model(**tokenize_with_eos(tokenizer, texts, max_length=512))``.

>>> from transformers import AutoModel, LlamaConfig
>>> config = LlamaConfig(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
...                      num_key_value_heads=1, vocab_size=50)
>>> model = EmbeddingModel(apply_lora(AutoModel.from_config(config), rank=4, alpha=8))
>>> e = model(input_ids=torch.tensor([[0, 5, 7], [3, 9, 1]]), attention_mask=torch.tensor([[0, 1, 1], [1, 1, 1]]))
>>> e.shape, torch.allclose(e.norm(dim=-1), torch.ones(2))
(torch.Size([2, 16]), True)
"""

from __future__ import annotations

import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModel, PreTrainedModel

from tasks.train.pooling import l2_normalize, last_token_pool
from tasks.train.text import PaddingSide, tokenize_with_eos

HALF_DTYPES = (torch.bfloat16, torch.float16)


def apply_lora(
    backbone: PreTrainedModel,
    rank: int = 16,
    alpha: int = 32,
    dropout: float = 0.0,
    target: str | list[str] = "all-linear",
) -> PeftModel:
    """Freeze ``backbone`` and add LoRA adapters to ``target`` (peft's ``"all-linear"``: every linear layer).

    peft's own ``get_peft_model``: transformers 5's ``add_adapter`` needs a newer peft than ours.
    LoRA's inputs are not cast to its float32 weights' dtype (:func:`keep_lora_input_dtype`).
    """
    if rank < 1:
        raise ValueError(f"LoRA rank must be >= 1, got {rank}")
    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=target,
                        task_type="FEATURE_EXTRACTION")
    return keep_lora_input_dtype(get_peft_model(backbone, config))


def keep_lora_input_dtype(model: PeftModel) -> PeftModel:
    """Stop peft from casting every LoRA input to the LoRA weights' float32 (under a bf16 base).

    Under autocast that cast is pure cost: the float32 copy is cast back to bf16 for the matmul,
    and that second copy of each LoRA input is kept for the backward pass, ~13 % of a bf16
    model's activations (tests/train/test_memory_on_cpu.py). The gradients are the same: the
    bf16 -> float32 -> bf16 round trip is exact. This is what ``peft.helpers.disable_input_dtype_casting``
    does, made permanent: gradient checkpointing replays the forward pass during backward, outside
    any context a forward could enter, and its replay must save the very tensors the forward did.
    Without autocast, a half-precision base with float32 LoRA then needs the forward pass to run
    under autocast (:meth:`EmbeddingModel.forward` does).
    """
    from peft.tuners.tuners_utils import BaseTunerLayer

    for module in model.modules():
        if isinstance(module, BaseTunerLayer):
            module.cast_input_dtype_enabled = False
    return model


def enable_checkpointing(backbone: PreTrainedModel) -> PreTrainedModel:
    """Non-reentrant gradient checkpointing (transformers 5 calls it activation checkpointing;
    earlier releases, the lent GPU machines' among them, may have only the old name)."""
    options = {"use_reentrant": False}
    if hasattr(backbone, "activation_checkpointing_enable"):
        backbone.activation_checkpointing_enable(activation_checkpointing_kwargs=options)
    else:
        backbone.gradient_checkpointing_enable(gradient_checkpointing_kwargs=options)
    return backbone


def default_attention(device: torch.device | None, dtype: torch.dtype | None = None) -> str:
    """``flash_attention_2`` for a bf16/fp16 model on a GPU where the flash-attn package is installed,
    else ``sdpa`` (flash-attention has no float32 kernels)."""
    import importlib.util

    on_gpu = device is not None and device.type == "cuda"
    usable = on_gpu and dtype in HALF_DTYPES
    return "flash_attention_2" if usable and importlib.util.find_spec("flash_attn") is not None else "sdpa"


class EmbeddingModel(torch.nn.Module):
    """Wraps a Hugging Face base model (``AutoModel``, optionally LoRA-wrapped) into unit-length embeddings."""

    def __init__(self, backbone: PreTrainedModel | PeftModel):
        super().__init__()
        self.backbone = backbone

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(B, L) token ids and mask, each row ending in EOS -> (B, H) L2-normalised embeddings.

        Positions count from each row's first real token, so a text's embedding does not depend on
        how much padding its batch has, or on which side (transformers numbers the columns).
        """
        position_ids = (attention_mask.cumsum(dim=1) - 1).clamp(min=0)
        with self._autocast_for_mixed_dtypes(input_ids.device):
            hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                                   use_cache=False).last_hidden_state
        pooled = last_token_pool(hidden, attention_mask)  # (B, H) at each row's EOS
        if pooled.dtype in (torch.float16, torch.bfloat16):
            pooled = pooled.float()  # the loss divides cosines by τ = 0.02: half precision is too coarse
        return l2_normalize(pooled)

    def _autocast_for_mixed_dtypes(self, device: torch.device):
        """Autocast to the base's dtype when the base is bf16/fp16, LoRA float32 and no autocast is on.

        peft no longer casts LoRA inputs (:func:`keep_lora_input_dtype`), so outside the training
        loop's autocast (``encode``, the export's check) the float32 LoRA layers need it here.
        """
        from contextlib import nullcontext

        base = self.backbone.get_input_embeddings().weight.dtype
        if base not in HALF_DTYPES or torch.is_autocast_enabled(device.type):
            return nullcontext()
        mixed = any(p.dtype != base for p in self._lora_parameters())
        return torch.autocast(device.type, dtype=base) if mixed else nullcontext()

    def _lora_parameters(self) -> list[torch.Tensor]:
        """The adapter's weights, found once (a few per layer); none after a merge."""
        if getattr(self, "_lora_cache", None) is None or self._lora_cache[0] is not self.backbone:
            found = [p for name, p in self.backbone.named_parameters() if "lora_" in name][:1]
            self._lora_cache = (self.backbone, found)
        return self._lora_cache[1]

    def encode_inputs(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """The same as calling the module: tokens -> normalised embeddings, with grad if enabled."""
        return self(input_ids=input_ids, attention_mask=attention_mask)

    @classmethod
    def from_pretrained(
        cls,
        path: str,
        lora_rank: int | None = 16,
        lora_alpha: int = 32,
        lora_dropout: float = 0.0,
        target: str | list[str] = "all-linear",
        gradient_checkpointing: bool = False,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
        attn_implementation: str | None = None,
    ) -> EmbeddingModel:
        """Load the base model at ``path`` (hub id or folder) and add LoRA (``lora_rank=None``: full fine-tuning).

        ``dtype`` (default float32) and ``device``: the weights are loaded straight onto the device
        in that dtype, never first as a full copy in host memory (8 workers x 14.5 GB for Mistral-7B).
        peft keeps the LoRA weights in float32 under a bf16 base. ``attn_implementation``: default
        :func:`default_attention` (flash-attention where installed on a GPU and the
        weights are bf16/fp16, else PyTorch's SDPA).

        Gradient checkpointing (transformers 5 calls it activation checkpointing) is non-reentrant,
        so the frozen embedding layer's outputs need not require grad for LoRA gradients to flow;
        it replays each layer's RNG state, so GradCache's replayed Step 3 stays exact.
        """
        device = torch.device(device) if device is not None else None
        dtype = dtype or torch.float32
        kwargs = {"dtype": dtype, "attn_implementation": attn_implementation or default_attention(device, dtype)}
        if device is not None and device.type != "cpu":
            kwargs["device_map"] = {"": device}
        backbone = AutoModel.from_pretrained(path, **kwargs)
        if gradient_checkpointing:
            enable_checkpointing(backbone)
        if lora_rank is not None:
            backbone = apply_lora(backbone, lora_rank, lora_alpha, lora_dropout, target)
        return cls(backbone)

    @torch.no_grad()
    def encode(
        self,
        texts: list[str],
        tokenizer,
        batch_size: int = 32,
        max_length: int = 512,
        padding_side: PaddingSide = "left",
    ) -> torch.Tensor:
        """Inference: formatted texts -> (N, H) float32 embeddings on the CPU, in the order given."""
        if not texts:
            raise ValueError("texts is empty")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        device = next(self.parameters()).device
        # Longest first: batches of similar length waste little on padding.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        was_training = self.training
        self.eval()
        try:
            chunks = []
            for start in range(0, len(order), batch_size):
                batch = tokenize_with_eos(tokenizer, [texts[i] for i in order[start:start + batch_size]],
                                          max_length, padding_side)
                chunks.append(self(**{key: value.to(device) for key, value in batch.items()}).float().cpu())
        finally:
            self.train(was_training)
        embeddings = torch.cat(chunks)
        return embeddings[torch.argsort(torch.tensor(order))]

    def merge_and_unload(self) -> EmbeddingModel:
        """Fold the LoRA weights into the base model (for export); a no-op without LoRA."""
        if isinstance(self.backbone, PeftModel):
            self.backbone = self.backbone.merge_and_unload()
        return self
