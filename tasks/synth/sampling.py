"""Seeded, reproducible sampling of what each example is asked to be.

Every shard has its own seed derived from the run seed and the shard's name, so a shard
re-run alone (after a failure) samples exactly the same placeholders as in the first run.

>>> a = sample_examples(TaskType.STS, "en", 3, seed=shard_seed(7, TaskType.STS, "en"))
>>> b = sample_examples(TaskType.STS, "en", 3, seed=shard_seed(7, TaskType.STS, "en"))
>>> a == b
True
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass

from tasks.language.languages import default_weights, language_name, script_note
from tasks.synth.task_types import BITEXT_TASK, STS_TASK, TASK_SPECS, TaskType
from tasks.synth.templates import BRAINSTORM, GENERATE, PromptTemplate


def shard_seed(run_seed: int, task_type: TaskType, language: str) -> int:
    """A stable 63-bit seed for one shard (independent of Python's hash randomisation)."""
    digest = hashlib.sha256(f"{run_seed}:{task_type.value}:{language}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


def part_seed(shard_seed_: int, index: int) -> int:
    """The seed of part ``index`` of a shard: parts sample independently of each other."""
    digest = hashlib.sha256(f"{shard_seed_}:part:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") >> 1


@dataclass(frozen=True)
class ExampleRequest:
    """What one example is asked to be: its template and the sampled placeholder values.

    ``placeholders`` holds everything the template needs except ``task`` for brainstormed
    types, which is drawn from the brainstormed pool by :func:`pick_task`.
    """

    index: int
    template: PromptTemplate
    placeholders: dict[str, object]


def _pair_language(rng: random.Random, language: str, pair_weights: dict[str, float]) -> str:
    """The other side of a bitext pair: English for non-English shards, else a weighted draw."""
    if language != "en":
        return "en"
    candidates = {c: w for c, w in pair_weights.items() if c != language and w > 0}
    codes = sorted(candidates)
    return rng.choices(codes, weights=[candidates[c] for c in codes])[0]


def sample_examples(
    task_type: TaskType,
    language: str,
    count: int,
    seed: int,
    pair_weights: dict[str, float] | None = None,
    first_index: int = 0,
    long_min_words: int = 300,
) -> list[ExampleRequest]:
    """Sample ``count`` example requests for one shard (or one part of it).

    Args:
        task_type: the shard's task type.
        language: the shard's language code; for bitext one side of the pair.
        count: how many examples to request.
        seed: the shard seed (see :func:`shard_seed`).
        pair_weights: weights for drawing the other bitext language when ``language`` is
            English (default: the English-dominant weights over all 93 languages).
        first_index: the index of the first example (a part's offset in its shard).
        long_min_words: the length long-long prompts ask for per document (paper: 300 words).
    """
    rng = random.Random(seed)
    spec = TASK_SPECS[task_type]
    pair_weights = pair_weights or default_weights()
    requests = []
    for index in range(count):
        template = rng.choice(GENERATE[task_type])
        values: dict[str, object] = {name: rng.choice(options) for name, options in spec.placeholders.items()}
        values["language"], values["script_note"] = language_name(language), script_note(language)
        if task_type is TaskType.LONG_LONG:
            values["min_words"] = long_min_words
        if task_type is TaskType.BITEXT:
            other = _pair_language(rng, language, pair_weights)
            src, tgt = (language, other) if rng.random() < 0.5 else (other, language)
            values.update(src_lang=language_name(src), tgt_lang=language_name(tgt), src_code=src, tgt_code=tgt,
                          src_script_note=script_note(src), tgt_script_note=script_note(tgt))
            values["task"] = BITEXT_TASK.format(src_lang=values["src_lang"], tgt_lang=values["tgt_lang"])
        elif task_type is TaskType.STS:
            values["task"] = STS_TASK
        requests.append(ExampleRequest(index=first_index + index, template=template, placeholders=values))
    return requests


def brainstorm_templates(task_type: TaskType, calls: int, seed: int) -> list[PromptTemplate]:
    """The brainstorm prompt of each of ``calls`` brainstorm calls (variants drawn at random)."""
    rng = random.Random(seed ^ 0xB7A1)
    return [rng.choice(BRAINSTORM[task_type]) for _ in range(calls)]


def call_seed(seed: int, *parts: int) -> int:
    """A 31-bit sampling seed for one LLM call, derived from the shard seed and the call's position."""
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:4], "big") >> 1


def pick_task(pool: list[str], seed: int, index: int) -> str:
    """Draw the task definition for example ``index`` from the brainstormed pool.

    Seeded per example so that the same pool always yields the same assignment.
    """
    return random.Random(seed ^ (index * 0x9E3779B1 + 1)).choice(pool)
