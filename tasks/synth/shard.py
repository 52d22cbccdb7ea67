"""Generate one shard (one task type in one language): brainstorm, then one example per request.

A shard batches its LLM calls internally and runs them concurrently under the client's
semaphore. It either returns all its rows or raises: a request that fails for good (server
down, retries exhausted) fails the whole shard, so storage never holds half a shard and a
retry starts it afresh with the same seed.

Example (against a running server)::

    client = LLMClient(LLMSettings(base_url="http://127.0.0.1:8080/v1", model="qwen"))
    result = await generate_shard(client, TaskType.STS, "en", count=4, seed=1)
    print(len(result.rows), dict(result.rejects))
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from tasks.synth.llm import LLMClient, UsageTotals
from tasks.synth.parsing import Rejected, RejectReason, parse_example, parse_task_list
from tasks.synth.sampling import ExampleRequest, brainstorm_templates, call_seed, pick_task, sample_examples
from tasks.synth.task_types import TASK_SPECS, TaskType

EXAMPLES_PER_BRAINSTORM = 20  # one brainstorm call (~20 tasks) per 20 examples: ~1 task per example


class ShardFailed(RuntimeError):
    """The shard could not be completed (an LLM call failed for good, or no usable task).

    ``partial`` holds what the failed attempt still cost and rejected, so it can be counted.
    """

    def __init__(self, message: str, partial: ShardResult | None = None):
        super().__init__(message)
        self.partial = partial


@dataclass
class ShardResult:
    """Rows of one shard plus its accounting."""

    rows: list[dict]
    rejects: Counter = field(default_factory=Counter)
    usage: UsageTotals = field(default_factory=UsageTotals)
    tasks_brainstormed: int = 0


async def brainstorm_tasks(
    client: LLMClient, task_type: TaskType, count: int, seed: int, max_rounds: int, rejects: Counter, usage: UsageTotals
) -> list[str]:
    """Brainstorm enough task definitions for ``count`` examples; deduplicated, order kept.

    If a round yields no usable task (a weak model answering off-format), brainstorm again,
    up to ``max_rounds`` rounds.
    """
    calls = max(1, math.ceil(count / EXAMPLES_PER_BRAINSTORM))
    templates = brainstorm_templates(task_type, calls, seed)
    pool: dict[str, str] = {}
    for round_ in range(max_rounds):
        completions = await asyncio.gather(
            *(client.complete(t.render({}), seed=call_seed(seed, -1, round_, i)) for i, t in enumerate(templates))
        )
        for completion in completions:
            usage.add(completion)
            try:
                for task in parse_task_list(completion.text):
                    pool.setdefault(task.casefold(), task)
            except Rejected as rejection:
                rejects[f"brainstorm_{rejection.reason.value}"] += 1
        if pool:
            return list(pool.values())
    raise ShardFailed(f"{max_rounds} brainstorm round(s) for {task_type.value} gave no usable task definition")


async def generate_example(
    client: LLMClient,
    task_type: TaskType,
    language: str,
    request: ExampleRequest,
    seed: int,
    max_tries: int,
    rejects: Counter,
    usage: UsageTotals,
) -> dict | None:
    """Ask for one example up to ``max_tries`` times; return its fields or None if all were rejected."""
    prompt = request.template.render(request.placeholders)
    for attempt in range(max_tries):
        completion = await client.complete(prompt, seed=call_seed(seed, request.index, attempt))
        usage.add(completion)
        try:
            if completion.finish_reason == "length":
                raise Rejected(RejectReason.TRUNCATED, "hit max_tokens")
            fields = parse_example(task_type, completion.text, language, request.placeholders)
        except Rejected as rejection:
            rejects[rejection.reason.value] += 1
            continue
        return {"fields": fields, "completion": completion}
    return None


def to_row(task_type: TaskType, language: str, request: ExampleRequest, fields: dict, completion, model: str, seed: int) -> dict:
    """One training row: the triple, plus provenance (template, placeholders, usage)."""
    spec = TASK_SPECS[task_type]
    query, positive = fields[spec.query_key], fields[spec.positive_key]
    negative = fields[spec.negative_key] if spec.negative_key else None
    identity = json.dumps([task_type.value, language, request.placeholders["task"], query, positive, negative])
    return {
        "example_id": hashlib.sha256(identity.encode()).hexdigest()[:16],
        "task_type": task_type.value,
        "language": language,
        "task": request.placeholders["task"],
        "query": query,
        "positive": positive,
        "negative": negative,
        "model": model,
        "template_id": request.template.id,
        "placeholders": json.dumps(request.placeholders, ensure_ascii=False, sort_keys=True),
        "raw": json.dumps(fields, ensure_ascii=False),
        "prompt_tokens": completion.prompt_tokens,
        "completion_tokens": completion.completion_tokens,
        "shard_seed": seed,
        "example_index": request.index,
    }


async def generate_shard(
    client: LLMClient,
    task_type: TaskType,
    language: str,
    count: int,
    seed: int,
    *,
    max_tries: int = 2,
    pair_weights: dict[str, float] | None = None,
    on_example: Callable[[], None] | None = None,
) -> ShardResult:
    """Generate up to ``count`` valid, distinct examples for one shard.

    Args:
        client: the LLM client (its semaphore bounds concurrency across shards).
        task_type, language: which shard.
        count: examples to request; rejected answers are retried up to ``max_tries`` times each.
        seed: the shard seed; the same seed samples the same placeholders and tasks.
        pair_weights: weights for the other bitext language (see sampling.sample_examples).
        on_example: called once per request when it is done, kept or not (progress).

    Raises:
        ShardFailed: a call failed for good, or brainstorming produced no task.
    """
    result = ShardResult(rows=[])
    requests = sample_examples(task_type, language, count, seed, pair_weights)
    try:
        if TASK_SPECS[task_type].brainstorm:
            pool = await brainstorm_tasks(client, task_type, count, seed, max_tries, result.rejects, result.usage)
            result.tasks_brainstormed = len(pool)
            requests = [
                ExampleRequest(r.index, r.template, {**r.placeholders, "task": pick_task(pool, seed, r.index)})
                for r in requests
            ]

        async def one(request: ExampleRequest) -> dict | None:
            outcome = await generate_example(
                client, task_type, language, request, seed, max_tries, result.rejects, result.usage
            )
            if on_example:
                on_example()
            return outcome

        async with asyncio.TaskGroup() as group:  # first hard failure cancels the rest
            jobs = [group.create_task(one(r)) for r in requests]
    except* Exception as failures:
        first = failures.exceptions[0]
        raise ShardFailed(f"{task_type.value}/{language}: {first}", partial=result) from first

    seen: set[str] = set()
    for request, job in zip(requests, jobs):
        outcome = job.result()
        if outcome is None:
            continue
        row = to_row(task_type, language, request, outcome["fields"], outcome["completion"], client.settings.model, seed)
        if row["example_id"] in seen:
            result.rejects[RejectReason.DUPLICATE.value] += 1
            continue
        seen.add(row["example_id"])
        result.rows.append(row)
    return result
