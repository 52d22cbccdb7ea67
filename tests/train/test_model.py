"""The model: loads offline, puts LoRA on every linear layer, and embeds at the EOS token."""

from __future__ import annotations

import pytest
import torch
from peft import PeftModel

from tasks.train.info_nce import info_nce_loss
from tasks.train.model import EmbeddingModel, apply_lora
from tasks.train.text import format_query, tokenize_with_eos
from tests.train.tiny import tiny_llama

# peft 0.21 reads transformers' deprecated `is_gradient_checkpointing`: third-party noise.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

TEXTS = [format_query("Retrieve passages", "capital of Peru"), "Lima is the capital of Peru.", "fox",
         "The quick brown fox jumps over the lazy dog.", "vectors"]
LINEAR_LAYERS = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, tokenizer):
    path = tmp_path_factory.mktemp("tiny-llama")
    tiny_llama(len(tokenizer)).save_pretrained(path)
    return str(path)


def _randomize_lora(model: EmbeddingModel, seed: int = 0) -> EmbeddingModel:
    torch.manual_seed(seed)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero (the adapter is then a no-op)
            torch.nn.init.normal_(parameter, std=0.2)
    return model


def test_from_pretrained_puts_lora_on_every_linear_layer_and_freezes_the_rest(model_dir):
    model = EmbeddingModel.from_pretrained(model_dir, lora_rank=4, lora_alpha=8)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_A" in name or "lora_B" in name for name in trainable)
    adapted = {name.split(".lora_")[0].split(".")[-1] for name in trainable}
    assert adapted == LINEAR_LAYERS
    assert len(trainable) == 2 * len(LINEAR_LAYERS) * 2  # A and B, 7 layers, 2 blocks


def test_a_fresh_adapter_leaves_the_base_models_embeddings_unchanged(model_dir, tokenizer):
    with_lora = EmbeddingModel.from_pretrained(model_dir, lora_rank=4)
    base = EmbeddingModel.from_pretrained(model_dir, lora_rank=None)
    assert not isinstance(base.backbone, PeftModel)
    torch.testing.assert_close(with_lora.encode(TEXTS, tokenizer), base.encode(TEXTS, tokenizer))


def test_the_embedding_is_the_normalised_last_hidden_state_at_eos(model_dir, tokenizer):
    model = EmbeddingModel.from_pretrained(model_dir, lora_rank=None).eval()
    ids = torch.tensor([tokenizer(TEXTS[1])["input_ids"] + [tokenizer.eos_token_id]])
    with torch.no_grad():
        hidden = model.backbone(input_ids=ids).last_hidden_state[0, -1]
    torch.testing.assert_close(model.encode(TEXTS[1:2], tokenizer)[0], hidden / hidden.norm())


def test_encode_returns_unit_rows_in_input_order_without_grad_and_restores_train_mode(model_dir, tokenizer):
    model = _randomize_lora(EmbeddingModel.from_pretrained(model_dir, lora_rank=4)).train()
    embeddings = model.encode(TEXTS, tokenizer, batch_size=2)  # batches sorted by length inside
    one_by_one = torch.cat([model.encode([text], tokenizer) for text in TEXTS])

    assert embeddings.shape == (len(TEXTS), 32) and embeddings.dtype == torch.float32
    assert not embeddings.requires_grad and model.training
    torch.testing.assert_close(embeddings.norm(dim=-1), torch.ones(len(TEXTS)))
    torch.testing.assert_close(embeddings, one_by_one, atol=1e-5, rtol=1e-5)


def test_left_and_right_padding_give_the_same_embeddings(model_dir, tokenizer):
    # Rotary positions are relative, so shifting a row right by its left padding changes nothing.
    model = _randomize_lora(EmbeddingModel.from_pretrained(model_dir, lora_rank=4))
    left = model.encode(TEXTS, tokenizer, padding_side="left")
    right = model.encode(TEXTS, tokenizer, padding_side="right")
    torch.testing.assert_close(left, right, atol=1e-5, rtol=1e-5)


def test_merge_and_unload_folds_the_adapter_without_changing_embeddings(model_dir, tokenizer):
    model = _randomize_lora(EmbeddingModel.from_pretrained(model_dir, lora_rank=4))
    before = model.encode(TEXTS, tokenizer)
    assert model.merge_and_unload() is model and not isinstance(model.backbone, PeftModel)
    torch.testing.assert_close(model.encode(TEXTS, tokenizer), before, atol=1e-5, rtol=1e-5)


def test_gradient_checkpointing_gives_the_same_gradients(model_dir, tokenizer):
    queries = tokenize_with_eos(tokenizer, TEXTS[:2], 32)
    documents = tokenize_with_eos(tokenizer, TEXTS[2:4], 32)

    def lora_grads(checkpointing: bool) -> dict[str, torch.Tensor]:
        model = _randomize_lora(EmbeddingModel.from_pretrained(model_dir, lora_rank=4,
                                                               gradient_checkpointing=checkpointing)).train()
        assert model.backbone.get_base_model().is_activation_checkpointing == checkpointing
        info_nce_loss(model(**queries), model(**documents)).backward()
        return {name: p.grad for name, p in model.named_parameters() if p.requires_grad}

    plain, checkpointed = lora_grads(False), lora_grads(True)
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], msg=name)


def test_bad_arguments_are_rejected(tokenizer):
    with pytest.raises(ValueError, match="LoRA rank must be >= 1"):
        apply_lora(tiny_llama(len(tokenizer)), rank=0)
    model = EmbeddingModel(tiny_llama(len(tokenizer)))
    with pytest.raises(ValueError, match="texts is empty"):
        model.encode([], tokenizer)
    with pytest.raises(ValueError, match="batch_size"):
        model.encode(["fox"], tokenizer, batch_size=0)


@pytest.mark.parametrize(("device", "dtype", "expected"), [
    ("cuda", torch.bfloat16, "flash_attention_2"), ("cuda", torch.float16, "flash_attention_2"),
    ("cuda", torch.float32, "sdpa"),  # flash-attention has no float32 kernels: it would fail at the first forward
    ("cuda", None, "sdpa"), ("cpu", torch.bfloat16, "sdpa"),
])
def test_flash_attention_is_chosen_only_for_half_precision_on_a_gpu(monkeypatch, device, dtype, expected):
    import importlib.util

    from tasks.train.model import default_attention

    find_spec = importlib.util.find_spec
    installed = lambda name, *args: object() if name == "flash_attn" else find_spec(name, *args)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", installed)
    assert default_attention(torch.device(device), dtype) == expected
