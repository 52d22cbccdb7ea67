"""The synthesis run's parameters as one typed object (the flow's parameter and the CLI's target).

Validation happens here, when the object is built: an unknown language or task type is one
clear error before any LLM call.

>>> c = SynthesisConfig(languages=["en", "es"], task_types=["sts"], llm={"base_url": "http://x/v1", "model": "m"})
>>> [s.key for s in plan_shards(c)]
['sts/en', 'sts/es']
>>> [p.requested for p in plan_shards(c.model_copy(update={"examples_per_shard": 1200}))[0].parts]
[500, 500, 200]
"""

from __future__ import annotations

import secrets
from datetime import datetime, timezone

from pydantic import BaseModel, Field, field_validator, model_validator

from tasks.clean.settings import CleanSettings
from tasks.language.languages import LANGUAGES, default_weights, parse_languages
from tasks.llm.client import LLMSettings
from tasks.llm.run_llm import RunLLM
from tasks.runs.manifest import RUN_ID_PATTERN, PartEntry, ShardEntry, shard_key
from tasks.runs.schema import TaskType
from tasks.storage.store import StoreError, check_store_url
from tasks.synth.check_settings import ExampleChecks
from tasks.synth.sampling import part_seed, shard_seed
from tasks.synth.templates import template_set_id

DEFAULT_STORE = "file://./data"
BATCH_PRICE_FACTOR = 0.5  # OpenAI's Batch API bills half the online price


def new_run_id() -> str:
    """A sortable, unique run id such as ``20261127-031500-a1b2``."""
    return f"{datetime.now(timezone.utc):%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"


class SynthesisConfig(BaseModel):
    """Everything that defines a synthesis run.

    Args:
        languages: ISO 639-1 codes of the languages to generate (default: English only).
        task_types: which of the six task types to generate (default: all).
        examples_per_shard: examples requested per (task type, language) shard, when
            ``total_examples`` is not set.
        total_examples: if set, split this many examples over languages by ``language_weights``
            and evenly over task types (overrides ``examples_per_shard``).
        language_weights: relative weight per language (default: English-dominant, REFERENCE §1).
        seed: run seed; each shard derives its own seed from it.
        max_tries_per_example: generation attempts per example before giving it up.
        part_size: most examples per part; a part is written and committed on its own.
        shard_concurrency: most shards in flight at once (requests are bounded by
            ``llm.concurrency``; parts start whenever the LLM would otherwise run dry).
        shard_retries: Prefect retries of a language's task run when one of its parts failed
            (a retry redoes only unfinished parts, reusing every recorded answer).
        store: fsspec URL of the store (``file://...`` or ``s3://bucket/prefix``).
        run_id: the run to create or resume (default: a new timestamped id).
        llm: how to reach the generator.
        checks: what a generated example must pass to be kept (lengths, language identification).
        clean: the filters run over all committed rows after the parts (near-duplicates,
            decontamination); not part of the run's identity: ``synthembed clean`` reruns them.
        min_yield: a complete shard that kept fewer than this share of the examples it asked
            for is reported as low-yield (the CLI then exits 3; see README "Yield").
        budget_tokens: tokens the run may spend; held per request (each reserves its worst case
            first, see tasks.llm.budget): no request starts that could cross it, and the run stops.
        budget_usd: the same in estimated USD at ``price_input_per_mtok``/``price_output_per_mtok``.
        price_input_per_mtok / price_output_per_mtok: USD per million prompt / completion
            tokens of the model, for the cost estimate (0 for a local server).
    """

    languages: list[str] = Field(default_factory=lambda: ["en"])
    task_types: list[TaskType] = Field(default_factory=lambda: list(TaskType))
    examples_per_shard: int = Field(4, ge=1)
    total_examples: int | None = Field(None, ge=1)
    language_weights: dict[str, float] | None = None
    seed: int = 0
    max_tries_per_example: int = Field(2, ge=1)
    part_size: int = Field(500, ge=1, le=50_000)
    shard_concurrency: int = Field(64, ge=1)
    shard_retries: int = Field(1, ge=0)
    store: str = DEFAULT_STORE
    run_id: str = Field(default_factory=new_run_id, pattern=RUN_ID_PATTERN)
    llm: LLMSettings
    checks: ExampleChecks = Field(default_factory=ExampleChecks)
    clean: CleanSettings = Field(default_factory=CleanSettings)
    min_yield: float = Field(0.5, ge=0, le=1)
    budget_tokens: int | None = Field(None, ge=1)
    budget_usd: float | None = Field(None, gt=0)
    price_input_per_mtok: float = Field(0.0, ge=0)
    price_output_per_mtok: float = Field(0.0, ge=0)

    def billed_prices(self) -> tuple[float, float]:
        """USD per million prompt and completion tokens as this run is billed (Batch API: half price)."""
        factor = BATCH_PRICE_FACTOR if self.llm.mode == "batch" else 1.0
        return factor * self.price_input_per_mtok, factor * self.price_output_per_mtok

    def run_llm(self) -> RunLLM:
        """The run's LLM and budget as the cleaning stage's LLM filters (the judge) reach them."""
        price_in, price_out = self.billed_prices()
        return RunLLM(llm=self.llm, budget_tokens=self.budget_tokens, budget_usd=self.budget_usd,
                      price_input_per_mtok=price_in, price_output_per_mtok=price_out)

    def cost_usd(self, prompt_tokens: float, completion_tokens: float) -> float:
        """Estimated spend for a token count at this run's prices."""
        price_in, price_out = self.billed_prices()
        return (prompt_tokens * price_in + completion_tokens * price_out) / 1e6

    @field_validator("store")
    @classmethod
    def _known_store_scheme(cls, value: str) -> str:
        try:
            return check_store_url(value)
        except StoreError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("languages", mode="before")
    @classmethod
    def _known_languages(cls, value):
        return parse_languages(value if isinstance(value, str) else ",".join(value))

    @field_validator("task_types", mode="before")
    @classmethod
    def _known_task_types(cls, value):
        return TaskType.parse_list(value if isinstance(value, str) else ",".join(str(getattr(v, "value", v)) for v in value))

    @model_validator(mode="after")
    def _weights_cover_languages(self):
        if self.language_weights is not None:
            unknown = sorted(set(self.language_weights) - set(LANGUAGES))
            if unknown:
                raise ValueError(f"language_weights names unknown language(s): {', '.join(unknown)}")
            if any(w < 0 for w in self.language_weights.values()):
                raise ValueError("language_weights must not be negative")
        if self.total_examples is not None and sum(self.weights().values()) <= 0:
            raise ValueError("the selected languages all have weight 0")
        return self

    @model_validator(mode="after")
    def _usd_budget_has_prices(self):
        # At the default prices of 0 every request costs $0: a USD cap would cap nothing.
        if self.budget_usd is not None and not (self.price_input_per_mtok or self.price_output_per_mtok):
            raise ValueError(f"--budget-usd {self.budget_usd} needs the model's prices: --price-input and "
                             "--price-output (USD per million prompt / completion tokens); at price 0 nothing is capped")
        return self

    def weights(self) -> dict[str, float]:
        """Weights of the selected languages (not normalised)."""
        source = self.language_weights if self.language_weights is not None else default_weights()
        return {code: source.get(code, 0.0) for code in self.languages}

    def identity(self) -> dict:
        """The parameters that decide what a run produces; a resumed run must match them."""
        return {
            "languages": self.languages,
            "task_types": [t.value for t in self.task_types],
            "examples_per_shard": self.examples_per_shard,
            "total_examples": self.total_examples,
            "language_weights": self.language_weights,
            "seed": self.seed,
            "max_tries_per_example": self.max_tries_per_example,
            "part_size": self.part_size,
            # what decides each answer: a resumed run with another model, sampling or server options
            # (llama.cpp's repeat_penalty...) would mix the answers of two generators
            "generator": {"model": self.llm.model, "temperature": self.llm.temperature, "top_p": self.llm.top_p,
                          "max_tokens": self.llm.max_tokens, "json_mode": self.llm.json_mode,
                          "extra_body": self.llm.extra_body, "templates": template_set_id()},
            "checks": self.checks.model_dump(),  # what decides which answers are kept
        }


def apportion(total: int, weights: dict[str, float]) -> dict[str, int]:
    """Split ``total`` by weights with the largest-remainder method (exact, deterministic).

    >>> apportion(10, {"en": 0.5, "es": 0.3, "fr": 0.2})
    {'en': 5, 'es': 3, 'fr': 2}
    """
    norm = sum(weights.values())
    quotas = {k: total * w / norm for k, w in weights.items()}
    counts = {k: int(q) for k, q in quotas.items()}
    by_remainder = sorted(weights, key=lambda k: (-(quotas[k] - counts[k]), k))
    for k in by_remainder[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


def plan_shards(config: SynthesisConfig) -> list[ShardEntry]:
    """Every shard of the run with its size, seed and parts, in a stable order (language, then type)."""
    if config.total_examples is None:
        sizes = {(t, lang): config.examples_per_shard for lang in config.languages for t in config.task_types}
    else:
        sizes = {}
        types = config.task_types
        first = 0  # which task type gets the next left-over example: rotates across languages
        for lang, n in apportion(config.total_examples, config.weights()).items():
            base, left_over = divmod(n, len(types))
            for i, t in enumerate(types):  # even split; the left-overs go round, so no type is starved
                sizes[(t, lang)] = base + ((i - first) % len(types) < left_over)
            first = (first + left_over) % len(types)
    shards = []
    for (t, lang), n in sizes.items():
        if n <= 0:
            continue
        seed = shard_seed(config.seed, t, lang)
        parts = [PartEntry(index=i, seed=part_seed(seed, i), requested=min(config.part_size, n - start))
                 for i, start in enumerate(range(0, n, config.part_size))]
        shards.append(ShardEntry(task_type=t.value, language=lang, seed=seed, requested=n, parts=parts))
    return shards


__all__ = ["SynthesisConfig", "plan_shards", "apportion", "new_run_id", "shard_key", "DEFAULT_STORE"]
