"""The dry-run plan: counts that follow from the plan, estimates that follow from the prompts."""

from __future__ import annotations

from tasks.runs.schema import TaskType
from tasks.synth.config import SynthesisConfig
from tasks.synth.estimate import answer_words, estimate_run

LLM = {"base_url": "http://127.0.0.1:1/v1", "model": "m"}


def test_the_paper_scale_plan_has_bounded_parts_and_one_prefect_task_run_per_language():
    config = SynthesisConfig(languages="all", total_examples=500_000, llm=LLM, price_input_per_mtok=0.15,
                             price_output_per_mtok=0.6)
    plan = estimate_run(config)
    assert plan.shards == 558 and plan.generation_requests == 500_000 and plan.largest_shard == 35_917
    assert plan.parts == 1296  # 72 parts for each of the three largest English shards, ...
    assert plan.prefect_task_runs == 95  # 93 languages, open-store and clean
    assert 500_000 / 20 * 4 / 6 <= plan.brainstorm_requests <= 500_000 / 20  # ~1 per 20 examples of 4 of 6 types
    assert 50e6 < plan.prompt_tokens < 120e6 and 100e6 < plan.completion_tokens < 400e6
    assert plan.cost_usd == config.cost_usd(plan.prompt_tokens, plan.completion_tokens)
    batch = estimate_run(config.model_copy(update={"llm": config.llm.model_copy(update={"mode": "batch"})}))
    assert batch.cost_usd == plan.cost_usd / 2


def test_answer_sizes_follow_what_the_prompt_asks_for():
    short = answer_words(TaskType.RETRIEVAL, {"query_length": "less than 5 words", "num_words": 50})
    long = answer_words(TaskType.RETRIEVAL, {"query_length": "at least 10 words", "num_words": 500})
    assert short < 150 < 1000 < long
    assert answer_words(TaskType.STS, {"unit": "passage"}) > answer_words(TaskType.STS, {"unit": "phrase"})
