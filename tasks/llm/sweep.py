"""Many independent requests through one caller: a bounded number ready at once, every outcome kept.

A whole-run filter asks the LLM one question per row (the judge: a rating; the relabeler: a choice).
Each request is asked once through an :class:`~tasks.llm.caller.LLMCaller` — the ledger first (an
answer recorded by an earlier run is reused: nothing is paid twice), then the budget and the backend —
and ends as one :class:`Outcome`:

=====================  ================================================================================
verdict                meaning
=====================  ================================================================================
``kept``               the answer parsed: ``value`` holds it
a rejection verdict    the caller's ``parse`` raised :class:`~tasks.llm.caller.AnswerRejected` (recorded)
``failed``             the request failed for good (LLMCallFailed): nothing recorded, a rerun asks again
``unsent``             the budget ran out (or the backend was stopped) before it was sent
=====================  ================================================================================

Once the budget is exhausted nothing more is sent, but answers the ledger already holds are still
taken (they cost nothing). A request that occurs twice is asked once, and both get its outcome. At most ``window`` requests are ready at once, pulled by as many workers:
a 500k-row run never holds 500k coroutines, and a Batch API backend still sees a batch's worth.

Example (against a running server)::

    caller = LLMCaller(backend, RequestLedger(store, "r1").open_filter("judge"), Budget(limit_tokens=50_000))
    swept = await ask_each(caller, requests, lambda c: json.loads(c.text), window=8)
    [o.verdict for o in swept.outcomes]          # ['kept', 'kept', 'judge_unparseable', 'unsent', ...]
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from tasks.llm.budget import BudgetExhausted
from tasks.llm.caller import AnswerRejected, LLMCaller
from tasks.llm.client import LLMCallFailed, SendingStopped
from tasks.llm.requests import ChatRequest, Completion

T = TypeVar("T")
KEPT, FAILED, UNSENT = "kept", "failed", "unsent"
MAX_ERRORS = 5  # failure messages kept for the report: the first few say what went wrong


@dataclass
class Outcome(Generic[T]):
    """What became of one request: its ``verdict`` (see the module docstring), the parsed ``value`` when
    kept, and a ``note`` (why it was rejected or failed)."""

    verdict: str = UNSENT
    value: T | None = None
    note: str = ""

    @property
    def answered(self) -> bool:
        """An answer came back (parsed or rejected): it is in the ledger."""
        return self.verdict not in (FAILED, UNSENT)


@dataclass
class Swept(Generic[T]):
    """Every request's outcome, in the order asked; why sending stopped; answers reused from the ledger and paid."""

    outcomes: list[Outcome[T]]
    stopped: str | None = None
    reused: int = 0
    paid: int = 0  # answers paid for by this sweep: answered, and not taken from the ledger
    errors: list[str] = field(default_factory=list)

    def count(self, verdict: str) -> int:
        return sum(o.verdict == verdict for o in self.outcomes)


Parse = Callable[[Completion], T]


async def ask_each(caller: LLMCaller, requests: Sequence[ChatRequest], parse: Parse | Sequence[Parse],
                   window: int) -> Swept[T]:
    """Ask every request once through ``caller``, at most ``window`` at a time; never raises for one request.

    ``parse`` reads every answer, or is a sequence of one parser per request (an answer about three
    candidates is checked against three).
    """
    parsers = [parse] * len(requests) if callable(parse) else list(parse)
    outcomes: list[Outcome[T]] = [Outcome() for _ in requests]
    swept = Swept(outcomes)
    # the same request twice (two rows asking the same question) is asked once: both in flight, neither
    # would find the other's answer in the ledger yet, and it would be paid twice
    first: dict[str, int] = {}
    for i, request in enumerate(requests):
        first.setdefault(request.key, i)
    queue = iter(first.values())  # shared by the workers: each index is taken once

    async def worker() -> None:
        for i in queue:
            request = requests[i]
            if swept.stopped and caller.ledger.get(request.key) is None:
                continue  # out of budget: only what the ledger holds is still free
            try:
                outcomes[i] = Outcome(KEPT, await caller.ask(request, parsers[i]))
            except AnswerRejected as rejection:
                outcomes[i] = Outcome(rejection.verdict, note=str(rejection))
            except LLMCallFailed as failure:
                outcomes[i] = Outcome(FAILED, note=str(failure))
                if len(swept.errors) < MAX_ERRORS:
                    swept.errors.append(str(failure))
            except (BudgetExhausted, SendingStopped) as stop:
                swept.stopped = swept.stopped or str(stop)

    await asyncio.gather(*(worker() for _ in range(max(1, min(window, len(first))))))
    for i, request in enumerate(requests):
        outcomes[i] = outcomes[first[request.key]]
    swept.reused = caller.reused
    swept.paid = sum(outcomes[i].answered for i in first.values()) - caller.reused
    return swept
