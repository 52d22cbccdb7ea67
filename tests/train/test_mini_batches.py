"""Padding-free GradCache: mini-batches sorted by length, cut by rows and tokens, trimmed, put back in order.

The loss and gradients must stay those of the plain full-batch step (to float64 precision), while
each forward pass runs at its own longest row's width.
"""

from __future__ import annotations

import pytest
import torch

from tasks.train.grad_cache import grad_cache_step, has_dropout
from tasks.train.info_nce import info_nce_loss
from tasks.train.mini_batches import MiniBatch, plan_for, plan_mini_batches, take
from tasks.train.model import EmbeddingModel, apply_lora
from tasks.train.text import format_query, tokenize_with_eos
from tests.train.tiny import tiny_llama

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

TASK = "Given a web search query, retrieve relevant passages"
QUERIES = ["capital of Peru", "fox", "what are embeddings and why do similar texts get similar vectors", "dog",
           "largest city", "vectors"]
POSITIVES = ["Lima is the capital and largest city of Peru. " * 3, "The quick brown fox.",
             "Embeddings map text to vectors; similar texts get similar vectors.", "lazy dog",
             "Lima is the largest city of Peru.", "similar texts get similar vectors " * 4]
NEGATIVES = ["The dog is lazy.", "Peru " * 9, "brown", "Query: capital of the web search engine", "jumps", "web"]


@pytest.mark.parametrize("lengths, max_rows, max_tokens", [
    ([5, 30, 7, 28, 6, 6, 1], 2, None), ([5, 30, 7, 28, 6, 6, 1], 8, 40), ([50, 3, 3], 4, 20), ([4] * 9, 4, 8),
])
def test_a_plan_covers_every_row_once_longest_first_within_its_limits(lengths, max_rows, max_tokens):
    plan = plan_mini_batches(lengths, max_rows, max_tokens)
    assert sorted(i for b in plan for i in b.rows) == list(range(len(lengths)))
    widths = [b.width for b in plan]
    assert widths == sorted(widths, reverse=True)
    for batch in plan:
        assert batch.width == max(lengths[i] for i in batch.rows) == lengths[batch.rows[0]]
        assert len(batch.rows) <= max_rows
        assert max_tokens is None or batch.padded_tokens <= max_tokens or len(batch.rows) == 1  # one long row alone


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_take_trims_each_mini_batch_to_its_own_longest_row(tokenizer, padding_side):
    inputs = tokenize_with_eos(tokenizer, POSITIVES, 64, padding_side)
    lengths = inputs["attention_mask"].sum(1).tolist()
    for batch in plan_for(inputs, max_rows=2):
        picked = take(inputs, batch)
        assert picked["input_ids"].shape == (len(batch.rows), batch.width)
        assert picked["attention_mask"].sum(1).tolist() == [lengths[i] for i in batch.rows]  # nothing real cut


def test_inputs_without_a_mask_are_cut_in_order():
    assert plan_for({"x": torch.zeros(5, 3)}, max_rows=2) == [MiniBatch([0, 1], None), MiniBatch([2, 3], None),
                                                              MiniBatch([4], None)]


def _lora_llama(tokenizer, dropout: float = 0.0, checkpointing: bool = False) -> EmbeddingModel:
    backbone = tiny_llama(len(tokenizer), dropout=dropout)
    if checkpointing:
        backbone.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
    model = EmbeddingModel(apply_lora(backbone, rank=4, alpha=8, dropout=dropout))
    for name, parameter in model.named_parameters():
        if "lora_B" in name:
            torch.nn.init.normal_(parameter, std=0.2)
    return model.double().train()


def _inputs(tokenizer, padding_side="left"):
    return (tokenize_with_eos(tokenizer, [format_query(TASK, q) for q in QUERIES], 64, padding_side),
            tokenize_with_eos(tokenizer, POSITIVES + NEGATIVES, 64, padding_side))


def _grads(model, step) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    torch.manual_seed(0)
    loss = step()
    return loss, {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def _plain(model, q, d):
    loss = info_nce_loss(model(**q), model(**d))
    loss.backward()
    return loss.detach()


@pytest.mark.parametrize("padding_side", ["left", "right"])
@pytest.mark.parametrize("mini_batch_size, mini_batch_tokens, no_grad_scale", [
    (2, None, 1), (4, None, 2), (8, 40, 1), (8, 40, 3), (3, 25, 2),
])
def test_padding_free_grad_cache_equals_the_plain_padded_step(tokenizer, padding_side, mini_batch_size,
                                                              mini_batch_tokens, no_grad_scale):
    model = _lora_llama(tokenizer)
    q, d = _inputs(tokenizer, padding_side)
    expected_loss, expected = _grads(model, lambda: _plain(model, q, d))
    loss, grads = _grads(model, lambda: grad_cache_step(lambda b: model(**b), q, d, mini_batch_size,
                                                        mini_batch_tokens=mini_batch_tokens,
                                                        no_grad_scale=no_grad_scale))
    torch.testing.assert_close(loss, expected_loss)
    for name in expected:
        torch.testing.assert_close(grads[name], expected[name], msg=name)


def test_every_forward_pass_runs_at_its_own_longest_row_and_the_last_graph_is_reused(tokenizer):
    model = _lora_llama(tokenizer)
    q, d = _inputs(tokenizer)
    widths, passes = [], []

    def embed(batch):
        lengths = batch["attention_mask"].sum(1)
        widths.append((batch["input_ids"].shape[1], int(lengths.max())))
        passes.append(torch.is_grad_enabled())
        return model(**batch)

    grad_cache_step(embed, q, d, mini_batch_size=2)
    assert all(width == longest for width, longest in widths)
    # 3 query + 6 document mini-batches: Step 1 embeds 9, Step 3 re-embeds 8 (the last keeps its graph).
    assert len(passes) == 9 + 8 and passes[:8] == [False] * 8 and all(passes[8:])
    padded = sum(w * 2 for w, _ in widths)  # ≤ 2 rows each
    assert padded < 0.8 * 2 * (q["input_ids"].numel() + d["input_ids"].numel())  # far less than padded slices


def test_a_texts_embedding_does_not_depend_on_the_padding_of_its_batch(tokenizer):
    """Positions count from each row's first token: failed before (transformers numbered the columns)."""
    model = _lora_llama(tokenizer).eval()
    alone = model(**tokenize_with_eos(tokenizer, ["fox"], 64))
    for side in ("left", "right"):
        padded = model(**tokenize_with_eos(tokenizer, ["fox", POSITIVES[0]], 64, side))[:1]
        torch.testing.assert_close(padded, alone)


def test_dropout_with_gradient_checkpointing_still_replays_exactly(tokenizer):
    """Checkpointing replays each layer's RNG inside Step 3's replay: the same masks as Step 1."""
    model = _lora_llama(tokenizer, dropout=0.2, checkpointing=True)
    reference = _lora_llama(tokenizer, dropout=0.2)
    q, d = _inputs(tokenizer)
    plan_q, plan_d = plan_for(q, 4), plan_for(d, 4)

    def mini_batched(m):  # Step 1's mini-batches in one graph, no checkpointing
        from tasks.train.mini_batches import embed_in_order
        loss = info_nce_loss(embed_in_order(lambda b: m(**b), q, plan_q), embed_in_order(lambda b: m(**b), d, plan_d))
        loss.backward()
        return loss.detach()

    expected_loss, expected = _grads(reference, lambda: mini_batched(reference))
    loss, grads = _grads(model, lambda: grad_cache_step(lambda b: model(**b), q, d, 4))
    torch.testing.assert_close(loss, expected_loss)
    for name in expected:
        torch.testing.assert_close(grads[name], expected[name], msg=name)


def test_has_dropout_sees_dropout_layers_and_attention_dropout(tokenizer):
    assert not has_dropout(_lora_llama(tokenizer))
    assert has_dropout(_lora_llama(tokenizer, dropout=0.1))
    assert not has_dropout(_lora_llama(tokenizer, dropout=0.1).eval())
    assert has_dropout(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5)))


def test_a_larger_no_grad_scale_is_refused_below_one():
    with pytest.raises(ValueError, match="no_grad_scale must be >= 1"):
        grad_cache_step(lambda b: b["x"], {"x": torch.randn(4, 3)}, {"x": torch.randn(4, 3)}, 2, no_grad_scale=0)
