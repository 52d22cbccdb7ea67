"""The cleaning stage's questions to the LLM, asked the way generation asks: ledger, budget, backend.

The judge (:mod:`tasks.clean.judge`) and the relabeler (:mod:`tasks.clean.relabel`) ask one question
per row. Every answer is recorded in the run's request ledger under the filter's own folder
(``{run}/ledger/filters/{name}/``: :func:`tasks.llm.ledger.filter_prefix`), so a rerun of ``synthembed
clean`` reuses each one and pays nothing. The budget is the run's own (:class:`~tasks.llm.run_llm.RunLLM`),
started from what the run has paid so far — its generation (the manifest's parts) and every LLM
filter's ledger, each answer once — so ``--budget-tokens`` caps generation and filters together. The
backend is the run's: online with its concurrency and rate limits, or the Batch API.

Questions are sampled greedily (temperature 0, a fixed seed): a rating is a judgement, not a draw,
and the same row asks the same request, whose ledger key is then the same on every rerun.

    asked = ask_rows(store, manifest, run_llm, "judge", [question(run_llm, prompt, "judge 0", 160)], parse)
    asked.swept.outcomes[0].verdict, asked.usage["calls"]      # ('kept', 1)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from tasks.llm.requests import ChatRequest
from tasks.llm.run_llm import RunLLM
from tasks.llm.sweep import FAILED, UNSENT, Parse, Swept
from tasks.runs.manifest import Manifest
from tasks.storage.store import Store

T = TypeVar("T")
JUDGE, RELABEL = "judge", "relabel"
LLM_FILTERS = (JUDGE, RELABEL)  # whose ledgers count as the run's spend
READY_PER_SLOT = 2  # requests ready per backend slot, as synthesis keeps them
MAX_READY = 8192  # a Batch API backend's capacity is 50k: batches of this many are plenty


def question(llm: RunLLM, prompt: str, label: str, max_tokens: int) -> ChatRequest:
    """One question to the run's model, with its server options, greedy (see the module docstring)."""
    greedy = llm.llm.model_copy(update={"temperature": 0.0, "top_p": 1.0})
    return greedy.chat_request(prompt, seed=0, label=label, max_tokens=max_tokens)


@dataclass
class Asked(Generic[T]):
    """A filter's questions: each outcome (:class:`~tasks.llm.sweep.Swept`) and what the filter's ledger
    holds in all (``usage``: calls and tokens, each answer once, this run's and earlier ones)."""

    swept: Swept[T]
    usage: dict[str, float]

    def details(self) -> dict:
        """What a filter entry reports of its questions: paid now, reused, not asked, and why."""
        return {"requests_paid": self.swept.paid, "requests_reused": self.swept.reused,
                "not_asked": self.swept.count(UNSENT), "failed": self.swept.count(FAILED),
                "stopped": self.swept.stopped, "errors": self.swept.errors,
                "usage": {k: self.usage[k] for k in ("calls", "prompt_tokens", "completion_tokens")}}


def asked_report(name: str, details: dict) -> list[str]:
    """Lines saying what filter ``name``'s questions cost and which rows went unasked (from :meth:`Asked.details`).

    >>> print(asked_report("judge", {"requests_paid": 0, "requests_reused": 24, "not_asked": 2, "failed": 0,
    ...                              "stopped": "token budget: ..."})[1])  # doctest: +NORMALIZE_WHITESPACE
    judge: 2 row(s) not asked (token budget: ...), 0 failed: rerun `synthembed clean` (with a larger budget)
    to ask only those
    """
    lines = [f"{name}: {details.get('requests_paid', 0)} answer(s) paid now, {details.get('requests_reused', 0)} "
             "reused from the run's ledger"]
    if details.get("not_asked") or details.get("failed"):
        why = f" ({details['stopped']})" if details.get("stopped") else ""
        lines.append(f"{name}: {details.get('not_asked', 0)} row(s) not asked{why}, {details.get('failed', 0)} failed: "
                     "rerun `synthembed clean` (with a larger budget) to ask only those")
    return lines


def ask_rows(store: Store, manifest: Manifest, llm: RunLLM, name: str, requests: Sequence[ChatRequest],
             parse: Parse | Sequence[Parse]) -> Asked[T]:
    """Ask every request of filter ``name``, each answer read by ``parse`` (or by its own parser:
    :func:`tasks.llm.sweep.ask_each`). Runs its own event loop: call it from a thread that has none, as
    :func:`tasks.clean.filters.clean_run` runs. Raises LLMUnavailable if the server cannot be used."""
    return asyncio.run(_ask_rows(store, manifest, llm, name, requests, parse))


async def _ask_rows(store: Store, manifest: Manifest, llm: RunLLM, name: str, requests: Sequence[ChatRequest],
                    parse: Parse | Sequence[Parse]) -> Asked[T]:
    from tasks.common.secrets import llm_api_key
    from tasks.llm.backends import open_backend
    from tasks.llm.caller import LLMCaller
    from tasks.llm.ledger import RequestLedger
    from tasks.llm.sweep import ask_each

    ledger = RequestLedger(store, manifest.run_id)
    part = await asyncio.to_thread(ledger.open_filter, name)
    others = await asyncio.to_thread(_filters_paid, store, manifest.run_id, [n for n in LLM_FILTERS if n != name])
    usage = manifest.usage()
    budget = llm.budget(int(usage.get("prompt_tokens", 0) + others[0] + part.totals()["prompt_tokens"]),
                        int(usage.get("completion_tokens", 0) + others[1] + part.totals()["completion_tokens"]))
    backend = open_backend(llm.llm, llm_api_key(), store, manifest.run_id)
    flusher = asyncio.create_task(ledger.flush_forever())  # object stores: segments every few seconds
    try:
        await backend.preflight()  # a Batch API backend also learns the batches an earlier run submitted
        swept = await ask_each(LLMCaller(backend, part, budget), requests, parse,
                               min(READY_PER_SLOT * backend.capacity, MAX_READY))
    finally:
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        await backend.close()
        await asyncio.to_thread(ledger.close_part, part, True)
    return Asked(swept, part.totals())


def _filters_paid(store: Store, run_id: str, names: list[str]) -> tuple[int, int]:
    """(prompt, completion) tokens the ledgers of these filters hold, each answer once."""
    from tasks.llm.ledger import RequestLedger

    ledger, prompt, completion = RequestLedger(store, run_id), 0, 0
    for name in names:
        part = ledger.open_filter(name)
        totals = part.totals()
        ledger.close_part(part)
        prompt, completion = prompt + int(totals["prompt_tokens"]), completion + int(totals["completion_tokens"])
    return prompt, completion
