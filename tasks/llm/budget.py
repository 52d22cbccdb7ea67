"""Token and spend budgets that hold per request: reserve the worst case, settle on the answer.

Before a request is sent, its worst case — the prompt's estimated tokens plus ``max_tokens`` —
is reserved against what is left; the answer's real usage then replaces the reservation. A run
therefore never spends more than its budget, apart from an under-estimated prompt. A request
that does not fit while others are in flight waits for them to settle (their answers usually
cost far less than their worst case): the budget is spent out, not given up at the first
crowded moment, and it is exhausted only when nothing in flight could make room.

>>> b = Budget(limit_tokens=1000)
>>> r = b.reserve("x" * 400, max_tokens=500)   # 400 chars -> at most ~200 prompt tokens at first
>>> b.settle(r, prompt_tokens=100, completion_tokens=50, prompt="x" * 400)  # learns ~0.28 tokens per char
>>> b.spent_tokens
150
>>> b.reserve("x" * 400, max_tokens=900)
Traceback (most recent call last):
...
tasks.llm.budget.BudgetExhausted: token budget: 150 of 1000 tokens spent, 0 reserved; a request may need 1026
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from tasks.llm.requests import estimate_prompt_tokens

INITIAL_TOKENS_PER_CHAR = 0.5  # before any answer: generous for Latin scripts (~0.25), low for CJK
CALIBRATION_MARGIN = 1.1


class BudgetExhausted(RuntimeError):
    """The next request could exceed the token or spend budget: the run stops starting requests."""


@dataclass
class Reservation:
    tokens: int
    usd: float


class Budget:
    """Live spend of a run, shared by every request in flight (single event loop)."""

    def __init__(self, limit_tokens: int | None = None, limit_usd: float | None = None,
                 price_input_per_mtok: float = 0.0, price_output_per_mtok: float = 0.0,
                 spent_prompt: int = 0, spent_completion: int = 0):
        self.limit_tokens, self.limit_usd = limit_tokens, limit_usd
        self.price_in, self.price_out = price_input_per_mtok / 1e6, price_output_per_mtok / 1e6
        self.spent_prompt, self.spent_completion = spent_prompt, spent_completion
        self.reserved_tokens, self.reserved_usd = 0, 0.0
        self._tokens_per_char, self._calibrated = INITIAL_TOKENS_PER_CHAR, False
        self._settled = asyncio.Event()  # set (then replaced) whenever a reservation is given back

    @property
    def spent_tokens(self) -> int:
        return self.spent_prompt + self.spent_completion

    @property
    def spent_usd(self) -> float:
        return self.spent_prompt * self.price_in + self.spent_completion * self.price_out

    @property
    def limited(self) -> bool:
        return self.limit_tokens is not None or self.limit_usd is not None

    def add_spent(self, prompt_tokens: int, completion_tokens: int) -> None:
        """Count spend made outside this process's reservations (a killed run's paid answers)."""
        self.spent_prompt += prompt_tokens
        self.spent_completion += completion_tokens

    def reserve(self, prompt: str, max_tokens: int) -> Reservation:
        """Reserve a request's worst case, or raise :class:`BudgetExhausted`."""
        prompt_tokens = estimate_prompt_tokens(prompt, self._tokens_per_char)
        tokens = prompt_tokens + max_tokens
        usd = prompt_tokens * self.price_in + max_tokens * self.price_out
        if self.limit_tokens is not None and self.spent_tokens + self.reserved_tokens + tokens > self.limit_tokens:
            raise BudgetExhausted(f"token budget: {self.spent_tokens} of {self.limit_tokens} tokens spent, "
                                  f"{self.reserved_tokens} reserved; a request may need {tokens}")
        if self.limit_usd is not None and self.spent_usd + self.reserved_usd + usd > self.limit_usd:
            raise BudgetExhausted(f"spend budget: ${self.spent_usd:.4f} of ${self.limit_usd:.4f} spent, "
                                  f"${self.reserved_usd:.4f} reserved; a request may cost ${usd:.4f}")
        self.reserved_tokens += tokens
        self.reserved_usd += usd
        return Reservation(tokens, usd)

    async def reserve_when_room(self, prompt: str, max_tokens: int) -> Reservation:
        """Reserve a request's worst case, waiting while requests in flight hold the room it needs.

        Raises :class:`BudgetExhausted` only when nothing is reserved and it still does not fit.
        """
        while True:
            try:
                return self.reserve(prompt, max_tokens)
            except BudgetExhausted:
                if self.reserved_tokens <= 0 and self.reserved_usd <= 0:
                    raise
                await self._settled.wait()

    def settle(self, reservation: Reservation, prompt_tokens: int, completion_tokens: int, prompt: str = "") -> None:
        """Replace a reservation by the answer's real usage (and learn the prompt's token ratio)."""
        self.release(reservation)
        self.add_spent(prompt_tokens, completion_tokens)
        if prompt and prompt_tokens:
            self._tokens_per_char = max(self._tokens_per_char if self._calibrated else 0.0,
                                        CALIBRATION_MARGIN * prompt_tokens / len(prompt))
            self._calibrated = True

    def release(self, reservation: Reservation) -> None:
        """Give back a reservation whose request was not answered (nothing billed)."""
        self.reserved_tokens -= reservation.tokens
        self.reserved_usd -= reservation.usd
        self._settled.set()  # wake every waiter to try again; later ones wait on a new event
        self._settled = asyncio.Event()

    def describe(self) -> str:
        parts = []
        if self.limit_tokens is not None:
            parts.append(f"{self.spent_tokens} of {self.limit_tokens} tokens")
        if self.limit_usd is not None:
            parts.append(f"${self.spent_usd:.4f} of ${self.limit_usd:.4f}")
        return ", ".join(parts)
