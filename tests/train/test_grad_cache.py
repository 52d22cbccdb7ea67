"""GradCache gives the plain full-batch step's loss and parameter gradients, with constant memory.

The reference for a model without dropout is the plain step: one forward over the whole
batch, ``loss.backward()``. With dropout no two ways of batching draw the same masks, so the
reference is the same mini-batched forward passes GradCache's Step 1 makes, kept in one graph:
GradCache must then match it exactly, which holds only if Step 3 replays Step 1's dropout.
"""

from __future__ import annotations

from contextlib import nullcontext

import pytest
import torch

from tasks.train.grad_cache import RngState, grad_cache_step
from tasks.train.info_nce import info_nce_loss
from tasks.train.mini_batches import embed_in_order, plan_for
from tasks.train.model import EmbeddingModel, apply_lora
from tasks.train.text import format_query, tokenize_with_eos
from tests.train.tiny import tiny_llama

# peft 0.21 reads transformers' deprecated `is_gradient_checkpointing`: third-party noise.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

QUERIES = 6
TASK = "Given a web search query, retrieve relevant passages"


def _plain_step(embed, query_inputs, document_inputs, mini_batch_size=None):
    loss = info_nce_loss(embed(query_inputs), embed(document_inputs))
    loss.backward()
    return loss.detach()


def _mini_batched_step(embed, query_inputs, document_inputs, mini_batch_size):
    """GradCache's Step-1 mini-batches (sorted by length, trimmed), kept in one graph."""
    q = embed_in_order(embed, query_inputs, plan_for(query_inputs, mini_batch_size))
    d = embed_in_order(embed, document_inputs, plan_for(document_inputs, mini_batch_size))
    loss = info_nce_loss(q, d)
    loss.backward()
    return loss.detach()


def _grad_cache_step(embed, query_inputs, document_inputs, mini_batch_size):
    return grad_cache_step(embed, query_inputs, document_inputs, mini_batch_size)


def _run(step, module, *args, seed=0):
    """(loss, {name: grad}) of one step from fresh gradients and a fixed random state."""
    module.zero_grad(set_to_none=True)
    torch.manual_seed(seed)
    loss = step(*args)
    return loss, {name: p.grad.clone() for name, p in module.named_parameters() if p.requires_grad}


def _assert_same_step(actual, expected, **tolerance):
    (loss, grads), (expected_loss, expected_grads) = actual, expected
    torch.testing.assert_close(loss, expected_loss, **tolerance)
    assert grads.keys() == expected_grads.keys() and grads
    for name in grads:
        torch.testing.assert_close(grads[name], expected_grads[name], **tolerance, msg=name)


# --- a pure torch encoder --------------------------------------------------------------------------

def _mlp(dropout: float = 0.0, dtype=torch.float64) -> torch.nn.Module:
    torch.manual_seed(0)
    layers = [torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Dropout(dropout), torch.nn.Linear(16, 6)]
    return torch.nn.Sequential(*layers).to(dtype)


def _vectors(hard_negatives_per_query: int, dtype=torch.float64):
    generator = torch.Generator().manual_seed(1)
    rows = QUERIES * (1 + hard_negatives_per_query)
    return ({"x": torch.randn(QUERIES, 8, generator=generator, dtype=dtype)},
            {"x": torch.randn(rows, 8, generator=generator, dtype=dtype)})


@pytest.mark.parametrize("mini_batch_size", [1, 2, 4, 6, 50])  # 4 and 50 do not divide the batch
@pytest.mark.parametrize("hard_negatives_per_query", [0, 1])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_mlp_grad_cache_equals_the_plain_step(mini_batch_size, hard_negatives_per_query, dtype):
    dtype = getattr(torch, dtype)
    mlp = _mlp(dtype=dtype)
    embed = lambda batch: mlp(batch["x"])  # noqa: E731
    inputs = _vectors(hard_negatives_per_query, dtype)
    tolerance = {} if dtype == torch.float64 else {"atol": 1e-4, "rtol": 1e-4}
    _assert_same_step(_run(_grad_cache_step, mlp, embed, *inputs, mini_batch_size),
                      _run(_plain_step, mlp, embed, *inputs), **tolerance)


@pytest.mark.parametrize("mini_batch_size", [2, 4])
def test_mlp_with_dropout_matches_because_the_rng_is_replayed(mini_batch_size, monkeypatch):
    mlp = _mlp(dropout=0.3).train()
    embed = lambda batch: mlp(batch["x"])  # noqa: E731
    inputs = _vectors(1)
    expected = _run(_mini_batched_step, mlp, embed, *inputs, mini_batch_size)

    _assert_same_step(_run(_grad_cache_step, mlp, embed, *inputs, mini_batch_size), expected)

    # Control: without the replay, Step 3 draws other masks and the gradients are wrong.
    monkeypatch.setattr(RngState, "replay", lambda self: nullcontext())
    _, grads = _run(_grad_cache_step, mlp, embed, *inputs, mini_batch_size)
    assert not torch.allclose(grads["0.weight"], expected[1]["0.weight"])


def test_grad_cache_adds_to_existing_gradients_like_backward():
    mlp = _mlp()
    embed = lambda batch: mlp(batch["x"])  # noqa: E731
    inputs = _vectors(1)
    _, once = _run(_grad_cache_step, mlp, embed, *inputs, 4)
    grad_cache_step(embed, *inputs, mini_batch_size=4)  # accumulate a second, identical step
    torch.testing.assert_close(mlp[0].weight.grad, 2 * once["0.weight"])


# --- a tiny Llama with LoRA ------------------------------------------------------------------------

def _lora_llama(tokenizer, dropout: float, dtype) -> EmbeddingModel:
    model = EmbeddingModel(apply_lora(tiny_llama(len(tokenizer), dropout=dropout), rank=4, alpha=8, dropout=dropout))
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero, which would make every lora_A gradient zero
            torch.nn.init.normal_(parameter, std=0.2)
    return model.to(dtype).train()


def _token_batches(tokenizer, padding_side: str):
    queries = [format_query(TASK, q) for q in ["capital of Peru", "fox", "what are embeddings", "lazy dog",
                                               "largest city", "vectors for text"]]
    positives = ["Lima is the capital of Peru.", "The quick brown fox.", "Embeddings map text to vectors.",
                 "over the lazy dog", "Lima is the largest city.", "similar texts get similar vectors"]
    negatives = ["The dog is lazy.", "Peru", "brown", "Query: capital", "jumps over", "the web search"]
    return (tokenize_with_eos(tokenizer, queries, 32, padding_side),
            tokenize_with_eos(tokenizer, positives + negatives, 32, padding_side))


@pytest.mark.parametrize("padding_side, mini_batch_size, dtype", [  # 4 divides neither 6 queries nor 12 documents
    ("left", 4, "float64"), ("right", 2, "float64"), ("left", 2, "float32"), ("right", 4, "float32"),
])
def test_lora_llama_grad_cache_equals_the_plain_step(tokenizer, padding_side, mini_batch_size, dtype):
    dtype = getattr(torch, dtype)
    model = _lora_llama(tokenizer, dropout=0.0, dtype=dtype)
    embed = lambda batch: model(**batch)  # noqa: E731
    inputs = _token_batches(tokenizer, padding_side)
    tolerance = {} if dtype == torch.float64 else {"atol": 1e-4, "rtol": 1e-4}
    expected = _run(_plain_step, model, embed, *inputs)
    assert all("lora_" in name for name in expected[1])  # only the adapters train

    _assert_same_step(_run(_grad_cache_step, model, embed, *inputs, mini_batch_size), expected, **tolerance)


def test_lora_llama_with_attention_and_lora_dropout_matches_the_mini_batched_step(tokenizer):
    model = _lora_llama(tokenizer, dropout=0.2, dtype=torch.float64)
    embed = lambda batch: model(**batch)  # noqa: E731
    inputs = _token_batches(tokenizer, "left")
    expected = _run(_mini_batched_step, model, embed, *inputs, 4)
    _, other_draw = _run(_mini_batched_step, model, embed, *inputs, 4, seed=1)
    assert any(not torch.allclose(other_draw[n], expected[1][n]) for n in other_draw)  # dropout is on

    _assert_same_step(_run(_grad_cache_step, model, embed, *inputs, 4), expected)


# --- rejected inputs -------------------------------------------------------------------------------

@pytest.mark.parametrize("query_inputs, document_inputs, mini_batch_size, message", [
    ({"x": torch.randn(4, 8)}, {"x": torch.randn(8, 8)}, 0, "mini_batch_size must be >= 1"),
    ({"x": torch.randn(4, 8)}, {"x": torch.randn(6, 8)}, 2, "positives followed by k"),
    ({"x": torch.randn(4, 8), "m": torch.ones(3, 8)}, {"x": torch.randn(4, 8)}, 2, "disagree on the batch size"),
    ({}, {"x": torch.randn(4, 8)}, 2, "query_inputs is empty"),
])
def test_incompatible_inputs_are_rejected(query_inputs, document_inputs, mini_batch_size, message):
    with pytest.raises(ValueError, match=message):
        grad_cache_step(lambda batch: batch["x"], query_inputs, document_inputs, mini_batch_size)


@pytest.mark.parametrize("mini_batch_size", [2, 4])  # 4: everything fits one pass
def test_an_embed_that_returns_the_wrong_shape_is_rejected(mini_batch_size):
    with pytest.raises(ValueError, match="embed must return"):
        grad_cache_step(lambda batch: batch["x"].sum(0), {"x": torch.randn(4, 8)}, {"x": torch.randn(4, 8)},
                        mini_batch_size)


# 4 rows: queries 1 + documents 2 mini-batches, twice, less the last one, whose Step-1 graph Step 3 reuses.
@pytest.mark.parametrize("mini_batch_size, forward_passes", [(8, 2), (4, 2 * (1 + 2) - 1)])
def test_a_batch_that_fits_one_pass_is_embedded_once(mini_batch_size, forward_passes):
    """No second forward pass when nothing needs caching: queries once, documents once."""
    calls = []
    encoder = torch.nn.Linear(8, 4)

    def embed(batch):
        calls.append(batch["x"].shape[0])
        return encoder(batch["x"])

    grad_cache_step(embed, {"x": torch.randn(4, 8)}, {"x": torch.randn(8, 8)}, mini_batch_size)
    assert len(calls) == forward_passes
