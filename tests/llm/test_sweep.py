"""Many requests through one caller (tasks.llm.sweep) against the fake server: each asked once, every
outcome kept, nothing sent past the budget, and what the ledger holds still taken for free."""

from __future__ import annotations

import asyncio
import json

from tasks.llm.budget import Budget
from tasks.llm.caller import AnswerRejected, LLMCaller
from tasks.llm.client import LLMClient, LLMSettings
from tasks.llm.ledger import RequestLedger
from tasks.llm.sweep import FAILED, KEPT, UNSENT, ask_each
from tasks.storage.store import open_store
from tests.support.fake_openai import FakeOpenAI


class Bad(AnswerRejected):
    verdict = "bad_answer"


def parse(completion):
    data = json.loads(completion.text)
    if data.get("score") != 5:
        raise Bad("not five")
    return data["score"]


def sweep(server, store, prompts, budget=None, max_retries=0):
    async def go():
        client = LLMClient(LLMSettings(base_url=server.base_url, model=server.model, max_retries=max_retries,
                                       backoff_base_s=0.01, concurrency=2))
        ledger = RequestLedger(store, "r1")
        part = ledger.open_filter("judge")
        requests = [client.request(p, seed=0, max_tokens=64) for p in prompts]
        try:
            return await ask_each(LLMCaller(client, part, budget or Budget()), requests, parse, window=4)
        finally:
            ledger.close_part(part)
            await client.close()
    return asyncio.run(go())


def judge_prompts(n):
    return [f'Rate row {i}. Answer {{"score": <1-5>, "reason": "..."}}' for i in range(n)]


def test_every_outcome_is_kept_and_a_repeated_request_is_asked_once(tmp_path):
    store = open_store(f"file://{tmp_path}")
    kinds = {"row 1.": "low_score", "row 2.": "500"}
    policy = lambda n, prompt: next((k for marker, k in kinds.items() if marker in prompt), "ok")  # noqa: E731
    prompts = judge_prompts(4) + judge_prompts(1)  # row 0 twice
    with FakeOpenAI(policy=policy) as server:
        swept = sweep(server, store, prompts)
        assert len(server.requests) == 4  # row 0 once
        assert [o.verdict for o in swept.outcomes] == [KEPT, "bad_answer", FAILED, KEPT, KEPT]
        assert swept.outcomes[0].value == 5 and swept.outcomes[4] is swept.outcomes[0]
        assert swept.paid == 3 and swept.reused == 0 and "HTTP 500" in swept.errors[0]
        again = sweep(server, store, prompts)
        assert len(server.requests) == 5  # only the failed request is asked again
        assert again.reused == 3 and again.paid == 0 and again.outcomes[2].verdict == FAILED


def test_nothing_is_sent_past_the_budget_but_recorded_answers_are_still_taken(tmp_path):
    store = open_store(f"file://{tmp_path}")
    prompts = judge_prompts(10)
    with FakeOpenAI() as server:
        sweep(server, store, prompts[7:])  # rows 7-9 answered earlier, in the ledger
        budget = Budget(limit_tokens=150)  # a request's worst case ~110 tokens at first, ~20 paid each
        swept = sweep(server, store, prompts, budget=budget)
        assert swept.stopped and "token budget" in swept.stopped
        assert budget.spent_tokens <= 150 and 0 < swept.paid < 7
        verdicts = [o.verdict for o in swept.outcomes]
        assert verdicts[7:] == [KEPT] * 3 and swept.reused == 3  # free, though the budget was spent
        assert UNSENT in verdicts[:7] and len(server.requests) == 3 + swept.paid
