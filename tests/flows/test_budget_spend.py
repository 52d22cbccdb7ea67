"""A budget is spent, not given up: a run whose plan costs more than its budget spends at least
90 % of it and never more than the budget plus what was in flight, at low and high concurrency.

Against the scripted server, through the real ``synthembed`` console script; what was spent is
read from the request ledger (every answer paid for, each once).
"""

from __future__ import annotations

import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.ledger_files import ledger_records
from tests.support.synthembed_cli import run_cli, synthesize_argv

BUDGET = 50_000


@pytest.mark.parametrize("concurrency", [8, 64])
def test_a_token_budget_is_spent_to_at_least_90_percent_and_never_past_it(prefect_api, tmp_path, concurrency):
    # Given a plan of ~300 requests (~90k tokens) and a budget of 50k tokens
    extra = ["--languages", "en", "--task-types", "retrieval,sts", "--examples-per-shard", "150", "--seed", "3",
             "--concurrency", str(concurrency), "--budget-tokens", str(BUDGET), "--run-id", "b"]
    with FakeOpenAI(latency_s=0.05) as server:
        run = run_cli(synthesize_argv(server, f"file://{tmp_path}", *extra))
    # Then it stops on the budget (exit 1, one line saying so) ...
    assert run.returncode == 1 and "stopped early: token budget" in run.stderr, run.stderr[-3000:]
    records = ledger_records(tmp_path / "runs" / "b")
    spent = sum(r["prompt_tokens"] + r["completion_tokens"] for r in records)
    largest = max(r["prompt_tokens"] + r["completion_tokens"] for r in records)
    print(f"\nconcurrency {concurrency}: {len(records)} answers, {spent} of {BUDGET} tokens ({spent / BUDGET:.0%})")
    # ... having spent at least 90 % of it (was: 7 %), and no more than the budget plus what was in flight.
    assert spent >= 0.9 * BUDGET, f"spent {spent} of {BUDGET}"
    assert spent <= BUDGET + concurrency * largest
    assert len(server.requests) == len(records)  # every answer paid for is recorded
