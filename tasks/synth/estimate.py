"""What a run will ask and cost, before any request: the plan behind ``synthesize --dry-run``.

Prompts are rendered from a sample of each shard's real requests (templates and placeholders
as the run will draw them) and counted at ~4 characters per token (they are written in
English). Answers are sized from what each prompt asks for — the requested word counts, text
units and fixed keys — at the language's tokens per word. Retries of rejected answers come on
top (at most ``max_tries_per_example`` requests per example).

>>> from tasks.synth.config import SynthesisConfig
>>> c = SynthesisConfig(languages=["en"], task_types=["sts"], examples_per_shard=10,
...                     llm={"base_url": "http://x/v1", "model": "m"})
>>> plan = estimate_run(c)
>>> plan.shards, plan.parts, plan.brainstorm_requests, plan.generation_requests
(1, 1, 0, 10)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tasks.llm.requests import estimate_prompt_tokens
from tasks.synth.config import SynthesisConfig, plan_shards
from tasks.synth.lengths import UNIT_WORDS, tokens_per_word, typical_words
from tasks.synth.part import EXAMPLES_PER_BRAINSTORM
from tasks.synth.sampling import brainstorm_templates, sample_examples
from tasks.synth.task_types import TASK_SPECS, TaskType

BRAINSTORM_ANSWER_WORDS = 20 * 22  # ~20 task definitions of ~20 words, plus JSON
TYPICAL_TASK = "Given a user question about a specialised everyday topic, retrieve documents that answer it in depth."
SAMPLE_PER_SHARD = 64  # prompts rendered per shard (the mean scales to its size)


def answer_words(task_type: TaskType, placeholders: dict, long_min_words: int = 300) -> int:
    """Words an answer to this request should have (its JSON keys included)."""
    p = placeholders
    if task_type is TaskType.RETRIEVAL:
        return typical_words(p.get("query_length"), 10) + 2 * typical_words(p.get("num_words"), 200) + 15
    if task_type is TaskType.CLASSIFICATION:
        return typical_words(p.get("num_words"), 50) + 20
    if task_type is TaskType.SHORT_SHORT:
        return 40
    if task_type is TaskType.LONG_LONG:
        return 2 * long_min_words + 10
    return 3 * UNIT_WORDS.get(str(p.get("unit")), 20) + 15  # STS and bitext: S1, S2, S3


@dataclass
class RunEstimate:
    shards: int = 0
    parts: int = 0
    prefect_task_runs: int = 0
    brainstorm_requests: int = 0
    generation_requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    largest_shard: int = 0

    @property
    def requests(self) -> int:
        return self.brainstorm_requests + self.generation_requests

    def table(self) -> list[dict]:
        return [{"shards": self.shards, "parts": self.parts, "prefect_task_runs": self.prefect_task_runs,
                 "largest_shard": self.largest_shard, "brainstorm_requests": self.brainstorm_requests,
                 "generation_requests": self.generation_requests, "est_prompt_tokens": self.prompt_tokens,
                 "est_completion_tokens": self.completion_tokens, "est_cost_usd": round(self.cost_usd, 2)}]


def estimate_run(config: SynthesisConfig) -> RunEstimate:
    """Count shards, parts and first-try requests, and estimate their tokens and cost."""
    estimate = RunEstimate()
    shards = plan_shards(config)
    for shard in shards:
        task_type = TaskType(shard.task_type)
        per_word = tokens_per_word(shard.language)  # bitext: the shard's language is one side of each pair
        estimate.shards += 1
        estimate.parts += len(shard.parts)
        estimate.largest_shard = max(estimate.largest_shard, shard.requested)
        estimate.generation_requests += shard.requested
        long_min = config.checks.lengths.long_min_words
        sample = sample_examples(task_type, shard.language, min(shard.requested, SAMPLE_PER_SHARD), shard.seed,
                                 long_min_words=long_min)
        prompt_tokens = sum(estimate_prompt_tokens(r.template.render({"task": TYPICAL_TASK, **r.placeholders}))
                            for r in sample) / len(sample)
        words = sum(answer_words(task_type, r.placeholders, long_min) for r in sample) / len(sample)
        estimate.prompt_tokens += int(shard.requested * prompt_tokens)
        estimate.completion_tokens += int(shard.requested * words * per_word)
        if TASK_SPECS[task_type].brainstorm:
            calls = sum(max(1, math.ceil(p.requested / EXAMPLES_PER_BRAINSTORM)) for p in shard.parts)
            template = brainstorm_templates(task_type, 1, shard.seed)[0]
            estimate.brainstorm_requests += calls
            estimate.prompt_tokens += calls * estimate_prompt_tokens(template.render({}))
            estimate.completion_tokens += int(calls * BRAINSTORM_ANSWER_WORDS * tokens_per_word("en"))
    estimate.prefect_task_runs = len({s.language for s in shards}) + 2  # one per language, open-store and clean
    estimate.cost_usd = config.cost_usd(estimate.prompt_tokens, estimate.completion_tokens)
    return estimate
