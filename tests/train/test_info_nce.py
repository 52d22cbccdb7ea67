"""InfoNCE equals the formula of the paper computed by hand; bad layouts are rejected."""

from __future__ import annotations

import math

import pytest
import torch

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
