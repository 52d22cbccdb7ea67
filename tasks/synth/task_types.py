"""The six E5-mistral task types: what the LLM must return and which placeholders it is given.

Facts from the paper (Wang et al. 2024, §3.1 and appendix C); prompt wording lives in
:mod:`tasks.synth.templates`.

>>> spec = TASK_SPECS[TaskType.RETRIEVAL]
>>> spec.output_keys
('user_query', 'positive_document', 'hard_negative_document')
>>> spec.brainstorm
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tasks.runs.schema import FIXED_TASK_TYPES, TaskType

# Placeholder value sets, exactly as the paper lists them (REFERENCE.md §1).
QUERY_TYPE = ("extremely long-tail", "long-tail", "common")
QUERY_LENGTH = ("less than 5 words", "5 to 15 words", "at least 10 words")
CLARITY = ("clear", "understandable with some effort", "ambiguous")
NUM_WORDS_RETRIEVAL = (50, 100, 200, 300, 400, 500)
DIFFICULTY = ("high school", "college", "PhD")
NUM_WORDS_CLASSIFICATION = ("less than 10", "at least 10", "at least 50", "at least 100", "at least 200")
UNIT = ("sentence", "phrase", "passage")
STS_HIGH_SCORE = (4, 4.5, 5)
STS_LOW_SCORE = (2.5, 3, 3.5)
SYMMETRIC_DIFFICULTY = ("elementary school", "high school", "college")
BITEXT_HIGH_SCORE = (4, 4.5, 5)
BITEXT_LOW_SCORE = (1.5, 2, 2.5)


@dataclass(frozen=True)
class TaskSpec:
    """What one task type asks of the LLM and how its answer becomes a training triple.

    Attributes:
        output_keys: the JSON keys the generated object must have (all strings).
        query_key / positive_key / negative_key: which output key fills each triple column
            (negative_key None: the type has no hard negative).
        placeholders: placeholder name -> the values it is sampled from ("language" and the
            bitext language pair are filled by the sampler, not listed here).

    Lengths are not here: what each prompt asks is checked in tasks.synth.lengths.
    """

    task_type: TaskType
    output_keys: tuple[str, ...]
    query_key: str
    positive_key: str
    negative_key: str | None
    placeholders: dict[str, tuple] = field(default_factory=dict)

    @property
    def brainstorm(self) -> bool:
        """Whether a task definition is first brainstormed by the LLM (not a fixed instruction)."""
        return self.task_type not in FIXED_TASK_TYPES


TASK_SPECS: dict[TaskType, TaskSpec] = {
    TaskType.RETRIEVAL: TaskSpec(
        task_type=TaskType.RETRIEVAL,
        output_keys=("user_query", "positive_document", "hard_negative_document"),
        query_key="user_query",
        positive_key="positive_document",
        negative_key="hard_negative_document",
        placeholders={
            "query_type": QUERY_TYPE,
            "query_length": QUERY_LENGTH,
            "clarity": CLARITY,
            "num_words": NUM_WORDS_RETRIEVAL,
            "difficulty": DIFFICULTY,
        },
    ),
    TaskType.CLASSIFICATION: TaskSpec(
        task_type=TaskType.CLASSIFICATION,
        output_keys=("input_text", "label", "misleading_label"),
        query_key="input_text",
        positive_key="label",
        negative_key="misleading_label",
        placeholders={
            "num_words": NUM_WORDS_CLASSIFICATION,
            "difficulty": DIFFICULTY,
            "clarity": CLARITY,
        },
    ),
    TaskType.SHORT_SHORT: TaskSpec(
        task_type=TaskType.SHORT_SHORT,
        output_keys=("input", "positive_document"),
        query_key="input",
        positive_key="positive_document",
        negative_key=None,
    ),
    TaskType.LONG_LONG: TaskSpec(
        task_type=TaskType.LONG_LONG,
        output_keys=("input", "positive_document"),
        query_key="input",
        positive_key="positive_document",
        negative_key=None,
    ),
    TaskType.STS: TaskSpec(
        task_type=TaskType.STS,
        output_keys=("S1", "S2", "S3"),
        query_key="S1",
        positive_key="S2",
        negative_key="S3",
        placeholders={
            "unit": UNIT,
            "high_score": STS_HIGH_SCORE,
            "low_score": STS_LOW_SCORE,
            "difficulty": SYMMETRIC_DIFFICULTY,
        },
    ),
    TaskType.BITEXT: TaskSpec(
        task_type=TaskType.BITEXT,
        output_keys=("S1", "S2", "S3"),
        query_key="S1",
        positive_key="S2",
        negative_key="S3",
        placeholders={
            "unit": UNIT,
            "high_score": BITEXT_HIGH_SCORE,
            "low_score": BITEXT_LOW_SCORE,
            "difficulty": SYMMETRIC_DIFFICULTY,
        },
    ),
}

# The fixed task definitions of the symmetric types (they have no brainstorm step).
STS_TASK = "Retrieve semantically similar text."
BITEXT_TASK = "Given a sentence in {src_lang}, retrieve its translation in {tgt_lang}."
