"""Seeded sampling is reproducible, varied, and stays inside the paper's value sets."""

from __future__ import annotations

import pytest

from tasks.language.languages import LANGUAGES, default_weights, language_name, parse_languages, parse_weights
from tasks.synth.config import SynthesisConfig, apportion, plan_shards
from tasks.synth.sampling import call_seed, pick_task, sample_examples, shard_seed
from tasks.synth.task_types import TASK_SPECS, TaskType

LLM = {"base_url": "http://127.0.0.1:1/v1", "model": "m"}


def test_shard_seed_is_stable_across_processes_and_distinct_per_shard():
    # A fixed value: Python's hash() randomisation must not leak into seeds.
    assert shard_seed(0, TaskType.STS, "en") == shard_seed(0, TaskType.STS, "en")
    assert shard_seed(0, TaskType.STS, "en") == 4582500603831460202
    seeds = {shard_seed(0, t, lang) for t in TaskType for lang in ("en", "es")}
    assert len(seeds) == 12


@pytest.mark.parametrize("task_type", list(TaskType))
def test_same_seed_same_requests_other_seed_other_requests(task_type):
    a = sample_examples(task_type, "es", 20, seed=123)
    assert a == sample_examples(task_type, "es", 20, seed=123)
    b = sample_examples(task_type, "es", 20, seed=124)
    if TASK_SPECS[task_type].placeholders:
        assert [r.placeholders for r in a] != [r.placeholders for r in b]


@pytest.mark.parametrize("task_type", list(TaskType))
def test_sampled_values_come_from_the_value_sets(task_type):
    for request in sample_examples(task_type, "de", 50, seed=9):
        for name, options in TASK_SPECS[task_type].placeholders.items():
            assert request.placeholders[name] in options
        assert request.template.fields() <= set(request.placeholders) | {"task"}


def test_sampling_covers_every_value_given_enough_examples():
    seen = {n: set() for n in TASK_SPECS[TaskType.RETRIEVAL].placeholders}
    for request in sample_examples(TaskType.RETRIEVAL, "en", 400, seed=1):
        for n in seen:
            seen[n].add(request.placeholders[n])
    assert all(seen[n] == set(TASK_SPECS[TaskType.RETRIEVAL].placeholders[n]) for n in seen)


def test_bitext_pairs_non_english_with_english_and_english_with_another_language():
    for request in sample_examples(TaskType.BITEXT, "sw", 20, seed=3):
        assert {request.placeholders["src_code"], request.placeholders["tgt_code"]} == {"sw", "en"}
        assert "Swahili" in request.placeholders["task"] and "English" in request.placeholders["task"]
    others = {r.placeholders["src_code"] if r.placeholders["tgt_code"] == "en" else r.placeholders["tgt_code"]
              for r in sample_examples(TaskType.BITEXT, "en", 60, seed=3)}
    assert "en" not in others and len(others) > 3 and others <= set(LANGUAGES)
    only = sample_examples(TaskType.BITEXT, "en", 10, seed=3, pair_weights={"en": 1, "es": 1})
    assert all({r.placeholders["src_code"], r.placeholders["tgt_code"]} == {"en", "es"} for r in only)


def test_pick_task_is_deterministic_and_uses_the_pool():
    pool = [f"task {i}" for i in range(20)]
    picks = [pick_task(pool, 5, i) for i in range(50)]
    assert picks == [pick_task(pool, 5, i) for i in range(50)]
    assert len(set(picks)) > 5 and set(picks) <= set(pool)
    assert call_seed(5, 1, 0) != call_seed(5, 1, 1) and 0 <= call_seed(5, 1, 0) < 2**31


def test_default_weights_are_english_dominant_over_all_93():
    weights = default_weights()
    assert len(weights) == 93 and abs(sum(weights.values()) - 1) < 1e-9
    assert weights["en"] == 0.431 and weights["es"] == 0.029
    assert weights["sw"] == pytest.approx((1 - 0.431 - 13 * 0.029) / 79)
    assert language_name("zh") == "Chinese"


def test_apportion_is_exact_and_follows_weights():
    counts = apportion(1000, {c: w for c, w in default_weights().items()})
    assert sum(counts.values()) == 1000 and counts["en"] == 431 and counts["de"] == 29
    assert apportion(7, {"a": 1, "b": 1, "c": 1}) == {"a": 3, "b": 2, "c": 2}


def test_plan_with_total_examples_splits_by_language_weight_then_type():
    config = SynthesisConfig(languages="en,es,sw", task_types="retrieval,sts", total_examples=100, llm=LLM)
    plan = {e.key: e.requested for e in plan_shards(config)}
    assert sum(plan.values()) == 100
    assert plan["retrieval/en"] + plan["sts/en"] > plan["retrieval/es"] + plan["sts/es"] > 0


@pytest.mark.parametrize("languages, weights, total", [
    ("all", None, 2000),  # was: STS in 14 of 93 languages, 260 examples against 353 for four other types
    ("en,es", {"en": 0.5, "es": 0.5}, 10),  # was: no STS at all (ties broken alphabetically)
    ("en,es,de", None, 17),
])
def test_total_examples_split_evenly_over_task_types(languages, weights, total):
    config = SynthesisConfig(languages=languages, task_types="all", total_examples=total, language_weights=weights,
                             llm=LLM)
    per_type: dict[str, int] = {}
    for shard in plan_shards(config):
        per_type[shard.task_type] = per_type.get(shard.task_type, 0) + shard.requested
    assert sum(per_type.values()) == total and len(per_type) == 6, per_type
    assert max(per_type.values()) - min(per_type.values()) <= 1, per_type


def test_plan_with_examples_per_shard_lists_every_shard():
    config = SynthesisConfig(languages=["en", "es"], task_types="all", examples_per_shard=3, llm=LLM)
    plan = plan_shards(config)
    assert len(plan) == 12 and all(e.requested == 3 for e in plan)
    assert len({e.seed for e in plan}) == 12


@pytest.mark.parametrize("bad, message", [
    ({"languages": "en,xx"}, "unknown language code(s): xx"),
    ({"task_types": "retrieval,ranking"}, "unknown task type(s): ranking"),
    ({"languages": ""}, "no language given"),
    ({"examples_per_shard": 0}, "greater than or equal to 1"),
    ({"language_weights": {"zz": 1.0}}, "unknown language"),
    ({"run_id": "../escape"}, "pattern"),
    ({"budget_usd": 0.0001}, "--budget-usd 0.0001 needs the model's prices"),  # was: $0 a request, nothing capped
    ({"budget_usd": 1.0, "price_output_per_mtok": 0.0}, "needs the model's prices"),
])
def test_bad_parameters_fail_with_a_clear_message(bad, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SynthesisConfig(llm=LLM, **bad)


def test_a_usd_budget_with_prices_is_accepted():
    assert SynthesisConfig(llm=LLM, budget_usd=1.0, price_input_per_mtok=0.15).budget_usd == 1.0


def test_language_parsing_helpers():
    assert parse_languages("all") == list(LANGUAGES)
    assert parse_weights("en=0.5, es=1") == {"en": 0.5, "es": 1.0}
    with pytest.raises(ValueError, match="not of the form"):
        parse_weights("en")
