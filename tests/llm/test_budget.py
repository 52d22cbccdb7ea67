"""Budgets hold per request: reservations bound what is in flight; settlement learns the prompt's ratio."""

from __future__ import annotations

import asyncio

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


def test_a_request_that_does_not_fit_waits_for_those_in_flight_instead_of_stopping():
    # Given a budget whose room is held by reservations in flight (worst cases of 1,216 tokens)
    async def go():
        budget = Budget(limit_tokens=5_000)
        in_flight = [budget.reserve("p" * 400, max_tokens=1000) for _ in range(4)]
        waiter = asyncio.create_task(budget.reserve_when_room("p" * 400, max_tokens=1000))
        await asyncio.sleep(0.01)
        assert not waiter.done()  # was: BudgetExhausted at once, the run stopped with 0 tokens spent
        # When they settle far under their worst case, then the waiting request gets its room
        for r in in_flight:
            budget.settle(r, prompt_tokens=100, completion_tokens=200)
        reservation = await asyncio.wait_for(waiter, 1)
        assert budget.spent_tokens == 1200 and budget.reserved_tokens == reservation.tokens
        # and with nothing in flight, a request that cannot fit ends the run
        budget.settle(reservation, 100, 200)
        with pytest.raises(BudgetExhausted):
            await budget.reserve_when_room("p" * 400, max_tokens=4000)
    asyncio.run(go())
