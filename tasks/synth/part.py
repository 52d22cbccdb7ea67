"""Generate one part of a shard: brainstorm task definitions, then one example per request.

A part is the unit that is written and committed (at most ``part_size`` examples). Every
request goes through an :class:`~tasks.llm.caller.LLMCaller` (ledger, budget, backend; each
answer recorded with its verdict: ``kept`` or the reject reason). One request failing for good
does not cancel the others: they finish and are recorded, and the part is reported failed,
so its retry pays only for what was never answered.

Example (against a running server)::

    client = LLMClient(LLMSettings(base_url="http://127.0.0.1:8080/v1", model="qwen"))
    caller = LLMCaller(client, RequestLedger(store, "r1").open_part("sts/en/0"), Budget())
    result = await generate_part(caller, TaskType.STS, "en", PartSpec(0, seed=1, count=4))
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

from tasks.llm.admission import AdmissionTicket
from tasks.llm.budget import BudgetExhausted
from tasks.llm.caller import LLMCaller
from tasks.llm.client import LLMCallFailed, SendingStopped
from tasks.llm.requests import Completion
from tasks.synth.check_settings import ExampleChecks
from tasks.synth.lengths import completion_tokens_needed
from tasks.synth.parsing import Rejected, RejectReason, parse_example, parse_task_list
from tasks.synth.sampling import ExampleRequest, brainstorm_templates, call_seed, pick_task, sample_examples
from tasks.synth.task_types import TASK_SPECS, TaskType

EXAMPLES_PER_BRAINSTORM = 20  # one brainstorm call (~20 tasks) per 20 examples: ~1 task per example


@dataclass(frozen=True)
class PartSpec:
    """Which examples a part asks for: ``count`` from index ``first_index``, sampled with ``seed``."""

    index: int
    seed: int
    count: int
    first_index: int = 0


@dataclass
class PartResult:
    """Rows of one part plus its accounting. ``failures``/``stopped`` say why it is not complete."""

    rows: list[dict] = field(default_factory=list)
    rejects: Counter = field(default_factory=Counter)
    reused: int = 0
    tasks_brainstormed: int = 0
    failures: list[str] = field(default_factory=list)
    stopped: str | None = None

    @property
    def complete(self) -> bool:
        return not self.failures and self.stopped is None


async def brainstorm_tasks(caller: LLMCaller, task_type: TaskType, spec: PartSpec, max_rounds: int,
                           rejects: Counter, admission: AdmissionTicket | None = None) -> list[str]:
    """Brainstorm enough task definitions for the part's examples; deduplicated, order kept.

    If a round yields no usable task (a weak model answering off-format), brainstorm again,
    up to ``max_rounds`` rounds. Raises LLMCallFailed, BudgetExhausted, or ValueError (no task).
    """
    calls = max(1, math.ceil(spec.count / EXAMPLES_PER_BRAINSTORM))
    templates = brainstorm_templates(task_type, calls, spec.seed)
    pool: dict[str, str] = {}

    async def one(round_: int, i: int, template) -> list[str]:
        request = caller.backend.request(template.render({}), seed=call_seed(spec.seed, -1, round_, i),
                                         label=f"brainstorm {task_type.value} part {spec.index} round {round_} #{i}")
        try:
            return await caller.ask(request, lambda c: parse_task_list(c.text))
        except Rejected as rejection:
            rejects[f"brainstorm_{rejection.reason.value}"] += 1
            return []
        finally:
            if admission and round_ == 0:
                admission.done()

    for round_ in range(max_rounds):
        # every call of the round finishes (and is recorded) before a failure is raised
        outcomes = await asyncio.gather(*(one(round_, i, t) for i, t in enumerate(templates)), return_exceptions=True)
        if failures := [o for o in outcomes if isinstance(o, BaseException)]:
            raise failures[0]
        for tasks in outcomes:
            for task in tasks:
                pool.setdefault(task.casefold(), task)
        if pool:
            return list(pool.values())
    raise ValueError(f"{max_rounds} brainstorm round(s) for {task_type.value} gave no usable task definition")


async def generate_example(caller: LLMCaller, task_type: TaskType, language: str, request: ExampleRequest,
                           seed: int, max_tries: int, checks: ExampleChecks,
                           rejects: Counter) -> tuple[dict, Completion] | None:
    """Ask for one example up to ``max_tries`` times; its fields and answer, or None if all were rejected."""
    prompt = request.template.render(request.placeholders)
    max_tokens = completion_tokens_needed(task_type, request.placeholders, language, checks.lengths)

    def parse_answer(completion: Completion) -> tuple[dict, Completion]:
        if completion.finish_reason == "length":
            raise Rejected(RejectReason.TRUNCATED, "hit max_tokens")
        return parse_example(task_type, completion.text, language, request.placeholders, checks), completion

    for attempt in range(max_tries):
        chat = caller.backend.request(prompt, seed=call_seed(seed, request.index, attempt), max_tokens=max_tokens,
                                      label=f"{task_type.value}/{language} example {request.index} try {attempt}")
        try:
            return await caller.ask(chat, parse_answer)
        except Rejected as rejection:
            rejects[rejection.reason.value] += 1
    return None


def to_row(task_type: TaskType, language: str, request: ExampleRequest, fields: dict, completion: Completion,
           model: str, seed: int) -> dict:
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


def ready_at_start(task_type: TaskType, count: int) -> int:
    """Requests a part can send as soon as it starts: its brainstorm calls, or every example."""
    return max(1, math.ceil(count / EXAMPLES_PER_BRAINSTORM)) if TASK_SPECS[task_type].brainstorm else count


async def generate_part(
    caller: LLMCaller,
    task_type: TaskType,
    language: str,
    spec: PartSpec,
    *,
    max_tries: int = 2,
    checks: ExampleChecks | None = None,
    pair_weights: dict[str, float] | None = None,
    admission: AdmissionTicket | None = None,
    on_example: Callable[[], None] | None = None,
) -> PartResult:
    """Generate up to ``spec.count`` valid, distinct examples; never raises for one bad request.

    Args:
        caller: sends requests (ledger, budget, backend) and collects the accounting.
        task_type, language: which shard the part belongs to.
        spec: the part's index, seed, size and first example index.
        max_tries: attempts per example before it is given up (rejected answers are retried).
        checks: what an example must pass to be kept (default: :class:`ExampleChecks`).
        pair_weights: weights for the other bitext language (see sampling.sample_examples).
        admission: told when the part's ready requests are done (see tasks.llm.admission).
        on_example: called once per example when it is done, kept or not (progress).
    """
    result = PartResult()
    checks = checks or ExampleChecks()
    requests = sample_examples(task_type, language, spec.count, spec.seed, pair_weights, spec.first_index,
                               checks.lengths.long_min_words)
    try:
        if TASK_SPECS[task_type].brainstorm:
            pool = await brainstorm_tasks(caller, task_type, spec, max_tries, result.rejects, admission)
            result.tasks_brainstormed = len(pool)
            requests = [ExampleRequest(r.index, r.template, {**r.placeholders, "task": pick_task(pool, spec.seed, r.index)})
                        for r in requests]
            if admission:
                admission.add(len(requests))
    except (LLMCallFailed, ValueError) as failure:
        result.failures.append(f"brainstorm: {failure}")
    except (BudgetExhausted, SendingStopped) as stop:  # the budget, or Ctrl-C: nothing more is sent
        result.stopped = str(stop)
    if not result.complete:
        result.reused = caller.reused
        return result

    async def one(request: ExampleRequest):
        try:
            return await generate_example(caller, task_type, language, request, spec.seed, max_tries, checks,
                                          result.rejects)
        except LLMCallFailed as failure:
            result.failures.append(f"example {request.index}: {failure}")
        except (BudgetExhausted, SendingStopped) as stop:
            result.stopped = str(stop)
        finally:
            if admission:
                admission.done()
            if on_example:
                on_example()
        return None

    outcomes = await asyncio.gather(*(one(r) for r in requests))
    seen: set[str] = set()
    for request, outcome in zip(requests, outcomes):
        if outcome is None:
            continue
        fields, completion = outcome
        row = to_row(task_type, language, request, fields, completion, caller.backend.settings.model, spec.seed)
        if row["example_id"] in seen:
            result.rejects[RejectReason.DUPLICATE.value] += 1
            continue
        seen.add(row["example_id"])
        result.rows.append(row)
    result.reused = caller.reused
    return result
