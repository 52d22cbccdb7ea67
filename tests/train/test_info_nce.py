"""InfoNCE equals the formula of the paper computed by hand; bad layouts are rejected."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from tasks.train.info_nce import global_info_nce_loss, info_nce_loss


def _by_hand(q: list[list[float]], d: list[list[float]], temperature: float) -> float:
    """-log(exp(cos(q_i, d_i)/τ) / Σ_j exp(cos(q_i, d_j)/τ)), averaged over queries, in plain Python."""
    def cos(a, b):
        dot = sum(x * y for x, y in zip(a, b))
        return dot / math.sqrt(sum(x * x for x in a)) / math.sqrt(sum(y * y for y in b))

    losses = []
    for i, query in enumerate(q):
        logits = [cos(query, doc) / temperature for doc in d]
        top = max(logits)  # log-sum-exp, shifted for stability
        log_denominator = top + math.log(sum(math.exp(s - top) for s in logits))
        losses.append(log_denominator - logits[i])
    return sum(losses) / len(losses)


@pytest.mark.parametrize("hard_negatives_per_query", [0, 1, 3])
@pytest.mark.parametrize("temperature", [0.02, 0.5])
def test_loss_matches_the_hand_computation(hard_negatives_per_query, temperature):
    torch.manual_seed(hard_negatives_per_query)
    batch = 3
    q = torch.randn(batch, 5, dtype=torch.float64)
    d = torch.randn(batch * (1 + hard_negatives_per_query), 5, dtype=torch.float64)
    expected = _by_hand(q.tolist(), d.tolist(), temperature)
    assert info_nce_loss(q, d, temperature).item() == pytest.approx(expected, rel=1e-12)


def test_default_temperature_is_the_papers():
    q, d = torch.randn(2, 4, dtype=torch.float64), torch.randn(4, 4, dtype=torch.float64)
    assert info_nce_loss(q, d).item() == pytest.approx(_by_hand(q.tolist(), d.tolist(), 0.02), rel=1e-12)


def test_loss_uses_cosines_and_ignores_the_order_of_hard_negatives():
    torch.manual_seed(1)
    q, d = torch.randn(4, 6), torch.randn(12, 6)
    reference = info_nce_loss(q, d)
    assert torch.allclose(info_nce_loss(3.0 * q, 0.5 * d), reference)  # lengths do not matter
    shuffled = torch.cat([d[:4], d[4:][torch.randperm(8)]])
    assert torch.allclose(info_nce_loss(q, shuffled), reference)


def test_half_precision_inputs_give_a_float32_loss():
    q, d = torch.randn(2, 4).bfloat16(), torch.randn(4, 4).bfloat16()
    assert info_nce_loss(q, d).dtype == torch.float32


@pytest.mark.parametrize("hard_negatives_per_query", [0, 2])
def test_global_loss_in_one_process_is_the_local_loss(hard_negatives_per_query):
    q, d = torch.randn(3, 4), torch.randn(3 * (1 + hard_negatives_per_query), 4)
    assert torch.equal(global_info_nce_loss(q, d), info_nce_loss(q, d))


@pytest.mark.parametrize("q, d, temperature, message", [
    (torch.randn(3, 4), torch.randn(4, 4), 0.02, "positives followed by k"),
    (torch.randn(3, 4), torch.randn(2, 4), 0.02, "positives followed by k"),
    (torch.randn(0, 4), torch.randn(0, 4), 0.02, "at least one query"),
    (torch.randn(3, 4), torch.randn(3, 5), 0.02, "same hidden size"),
    (torch.randn(3), torch.randn(3), 0.02, r"\(batch, hidden\)"),
    (torch.randn(3, 4), torch.randn(3, 4), 0.0, "temperature"),
])
def test_bad_inputs_are_rejected(q, d, temperature, message):
    with pytest.raises(ValueError, match=message):
        info_nce_loss(q, d, temperature)
    with pytest.raises(ValueError, match=message):
        global_info_nce_loss(q, d, temperature)


def _planted_batch(batch: int = 4, hidden: int = 16):
    """Queries near their positives, random hard negatives, and query 0's hard negative replaced by
    a copy of its positive (a false negative): (q, d, index of the planted column)."""
    torch.manual_seed(0)
    positives = torch.randn(batch, hidden, dtype=torch.float64)
    q = positives + 0.3 * torch.randn(batch, hidden, dtype=torch.float64)
    negatives = torch.randn(batch, hidden, dtype=torch.float64)
    negatives[0] = positives[0]
    return q, torch.cat([positives, negatives]), batch


def test_a_planted_copy_of_the_positive_raises_the_loss_and_masking_removes_its_column():
    q, d, planted = _planted_batch()
    clean = d.clone()
    clean[planted] = torch.randn(d.shape[1], dtype=torch.float64)  # an ordinary negative instead
    temperature = 0.02
    assert info_nce_loss(q, d, temperature) > info_nce_loss(q, clean, temperature) + 0.1
    # With masking the copy is out of query 0's denominator: the hand computation without that term.
    expected = _by_hand_without(q.tolist(), d.tolist(), temperature, {(0, planted)})
    masked = info_nce_loss(q, d, temperature, false_negative_margin=0.01)
    assert masked.item() == pytest.approx(expected, rel=1e-12)
    assert masked.item() != pytest.approx(_by_hand(q.tolist(), d.tolist(), temperature), rel=1e-3)


def _by_hand_without(q, d, temperature, left_out: set[tuple[int, int]]) -> float:
    """:func:`_by_hand` with the (query, document) terms in ``left_out`` removed from the denominators."""
    def cos(a, b):
        dot = sum(x * y for x, y in zip(a, b))
        return dot / math.sqrt(sum(x * x for x in a)) / math.sqrt(sum(y * y for y in b))

    losses = []
    for i, query in enumerate(q):
        logits = [cos(query, doc) / temperature for j, doc in enumerate(d) if (i, j) not in left_out]
        positive = cos(query, d[i]) / temperature
        top = max(logits)
        losses.append(top + math.log(sum(math.exp(s - top) for s in logits)) - positive)
    return sum(losses) / len(losses)


def _unit(cosine: float) -> list[float]:
    """A unit vector at this cosine to (1, 0, 0), orthogonal to (0, 0, 1)."""
    return [cosine, math.sqrt(1 - cosine * cosine), 0.0]


@pytest.mark.parametrize("margin, left_out", [
    (None, set()),
    (-0.1, set()),  # nothing beats the positive by 0.1
    (0.0, {(0, 2)}),  # the negative above the positive
    (0.03, {(0, 2), (0, 3)}),  # and the one 0.02 below it
    (1.0, {(0, 1), (0, 2), (0, 3)}),  # every negative of query 0; its positive stays, so its term is 0
])
def test_the_margin_sets_what_is_masked_and_the_positive_never_is(margin, left_out):
    # Query 0 scores its positive 0.6, the other positive 0, and hard negatives 0.65 and 0.58; query 1
    # scores its positive 1 and everything else 0, so no margin up to 1 masks anything of its row.
    q = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    d = torch.tensor([_unit(0.6), [0.0, 0.0, 1.0], _unit(0.65), _unit(0.58)], dtype=torch.float64)
    expected = _by_hand_without(q.tolist(), d.tolist(), 0.5, left_out)
    assert info_nce_loss(q, d, 0.5, false_negative_margin=margin).item() == pytest.approx(expected, rel=1e-12)
    assert global_info_nce_loss(q, d, 0.5, false_negative_margin=margin).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("hard_negatives_per_query", [0, 1])
def test_no_margin_is_the_unmasked_loss_bit_for_bit(hard_negatives_per_query):
    torch.manual_seed(3)
    q, d = torch.randn(5, 8), torch.randn(5 * (1 + hard_negatives_per_query), 8)
    before = F.cross_entropy(F.normalize(q, dim=-1) @ F.normalize(d, dim=-1).T / 0.02, torch.arange(5))
    assert torch.equal(info_nce_loss(q, d, 0.02, false_negative_margin=None), before)
    assert torch.equal(global_info_nce_loss(q, d, 0.02, false_negative_margin=None), before)


def test_gradients_flow_through_the_masked_loss_and_skip_the_masked_column():
    q, d, planted = _planted_batch()
    q.requires_grad_(True)
    d.requires_grad_(True)
    loss = global_info_nce_loss(q, d, 0.02, false_negative_margin=0.01)
    loss.backward()
    assert torch.isfinite(q.grad).all() and q.grad.abs().sum() > 0 and d.grad[:planted].abs().sum() > 0
    # query 0 alone would have scored the planted copy; masked for it, it only gets gradient as
    # other queries' negative, exactly as the hand-built loss without query 0's term says.
    reference_d = d.detach().clone().requires_grad_(True)
    reference_q = q.detach().clone().requires_grad_(True)
    scores = F.normalize(reference_q, dim=-1) @ F.normalize(reference_d, dim=-1).T / 0.02
    scores = scores.masked_fill(torch.zeros_like(scores, dtype=torch.bool).index_put_(
        (torch.tensor([0]), torch.tensor([planted])), torch.tensor(True)), float("-inf"))
    F.cross_entropy(scores, torch.arange(q.shape[0])).backward()
    assert torch.allclose(d.grad, reference_d.grad) and torch.allclose(q.grad, reference_q.grad)


@pytest.mark.parametrize("margin", [float("nan"), float("inf"), 1.5, -2.0])
def test_a_bad_margin_is_rejected(margin):
    q, d = torch.randn(2, 4), torch.randn(2, 4)
    with pytest.raises(ValueError, match="false_negative_margin must be"):
        info_nce_loss(q, d, false_negative_margin=margin)
