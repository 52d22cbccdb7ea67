"""A request's whole trip: ledger first, then budget and backend, and every answer recorded.

An answer already in the request ledger is reused (nothing is paid twice); otherwise the
budget reserves the request's worst case, the backend sends it, the real usage settles the
reservation, and the answer is recorded with its verdict: ``kept``, or the reason the caller's
``parse`` function rejected it (:class:`AnswerRejected`). Rejected answers are recorded too, so
a retry does not pay for them again and the ledger is the audit trail of what was thrown away.

Example (against a running server)::

    caller = LLMCaller(LLMClient(LLMSettings(base_url=url, model="qwen")),
                       RequestLedger(store, "r1").open_part("sts/en/0"), Budget())
    tasks = await caller.ask(request, lambda completion: json.loads(completion.text))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from tasks.llm.budget import Budget
from tasks.llm.ledger import PartLedger
from tasks.llm.requests import ChatRequest, Completion

T = TypeVar("T")


class AnswerRejected(ValueError):
    """Raised by a ``parse`` function for an answer that is not usable; ``verdict`` is recorded."""

    verdict: str = "rejected"


class LLMCaller:
    """Sends one part's requests through its ledger, the run's budget and the backend.

    ``reused`` counts the answers taken from the ledger instead of being paid again.
    """

    def __init__(self, backend, ledger: PartLedger, budget: Budget):
        self.backend, self.ledger, self.budget = backend, ledger, budget
        self.reused = 0

    async def ask(self, request: ChatRequest, parse: Callable[[Completion], T]) -> T:
        """The parsed answer to ``request``.

        Raises AnswerRejected (recorded with its verdict), LLMCallFailed (nothing to record), or
        BudgetExhausted (the budget allows no further request, even once those in flight settle;
        nothing was sent).
        """
        if (completion := self.ledger.get(request.key)) is not None:
            self.reused += 1
        else:
            completion = await self._send(request)
        try:
            value = parse(completion)
        except AnswerRejected as rejection:
            self._record(request, completion, rejection.verdict)
            raise
        self._record(request, completion, "kept")
        return value

    async def _send(self, request: ChatRequest) -> Completion:
        reservation = await self.budget.reserve_when_room(request.prompt, request.max_tokens) if self.budget.limited else None
        try:
            completion = await self.backend.send(request)
        except BaseException:
            if reservation:
                self.budget.release(reservation)
            raise
        if reservation:
            self.budget.settle(reservation, completion.prompt_tokens, completion.completion_tokens, request.prompt)
        else:
            self.budget.add_spent(completion.prompt_tokens, completion.completion_tokens)
        return completion

    def _record(self, request: ChatRequest, completion: Completion, verdict: str) -> None:
        if not completion.reused:
            self.ledger.record(request.key, completion, verdict, label=request.label, model=request.model)
