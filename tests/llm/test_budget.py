"""Budgets hold per request: reservations bound what is in flight; settlement learns the prompt's ratio."""

from __future__ import annotations

import pytest

from tasks.llm.budget import Budget, BudgetExhausted


def test_reservations_in_flight_never_let_spend_pass_the_limit():
    budget = Budget(limit_tokens=10_000)
    reservations = []
    with pytest.raises(BudgetExhausted):
        for _ in range(100):  # a burst of concurrent requests, none answered yet
            reservations.append(budget.reserve("p" * 400, max_tokens=1000))
    assert len(reservations) == 8  # 8 × (216 + 1000) fit in 10,000; the 9th might not
    for r in reservations:  # every answer comes back at its worst case
        budget.settle(r, prompt_tokens=216, completion_tokens=1000)
    assert budget.spent_tokens <= 10_000 and budget.reserved_tokens == 0


def test_unanswered_requests_give_their_reservation_back():
    budget = Budget(limit_usd=0.01, price_input_per_mtok=1.0, price_output_per_mtok=4.0)
    r = budget.reserve("p" * 100, max_tokens=1000)
    budget.release(r)
    assert budget.reserved_usd == 0 and budget.spent_usd == 0
    budget.add_spent(1000, 2000)  # paid by a killed earlier attempt, found in the ledger
    assert budget.spent_usd == pytest.approx(0.009)
    with pytest.raises(BudgetExhausted, match="spend budget"):
        budget.reserve("p" * 100, max_tokens=1000)


def test_the_prompt_estimate_is_calibrated_upwards_from_real_usage():
    budget = Budget(limit_tokens=10**6)
    r = budget.reserve("字" * 100, max_tokens=10)  # 0.5 tokens per char before any answer
    assert r.tokens == 50 + 16 + 10
    budget.settle(r, prompt_tokens=150, completion_tokens=10, prompt="字" * 100)  # CJK: 1.5 per char
    assert budget.reserve("字" * 100, max_tokens=10).tokens == 165 + 16 + 10
