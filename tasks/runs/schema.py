"""The row: what every stage, the export and the test server agree a generated example is.

One contract, written once: the task types, the columns of a run's Parquet parts with their
types and meanings, and what ``query`` / ``positive`` / ``negative`` hold for each task type
(E5-mistral, Wang et al. 2024, §3.1). Synthesis writes these rows, cleaning and training read
them, the export and its card describe them.

>>> TaskType.parse_list("sts,retrieval")
[<TaskType.STS: 'sts'>, <TaskType.RETRIEVAL: 'retrieval'>]
>>> list(ROW_SCHEMA)[:4]
['example_id', 'task_type', 'language', 'task']
>>> TaskType.STS in FIXED_TASK_TYPES, TaskType.RETRIEVAL in FIXED_TASK_TYPES
(True, False)
"""

from __future__ import annotations

from enum import Enum

import polars as pl


class TaskType(str, Enum):
    """A task type, named as on the command line."""

    RETRIEVAL = "retrieval"  # short query -> long document (paper: short-long)
    CLASSIFICATION = "classification"  # long text -> short label (paper: long-short)
    SHORT_SHORT = "short_short"  # short text -> short text matching
    LONG_LONG = "long_long"  # long text -> long text matching
    STS = "sts"  # monolingual semantic similarity, no brainstorm
    BITEXT = "bitext"  # translation retrieval between two languages, no brainstorm

    @classmethod
    def parse_list(cls, text: str) -> list[TaskType]:
        """Parse ``"retrieval,sts"`` (or ``"all"``); raise ValueError naming every unknown type."""
        if text.strip() == "all":
            return list(cls)
        names = [n.strip() for n in text.split(",") if n.strip()]
        unknown = [n for n in names if n not in cls._value2member_map_]
        if unknown:
            valid = ", ".join(t.value for t in cls)
            raise ValueError(f"unknown task type(s): {', '.join(unknown)} (valid: {valid})")
        if not names:
            raise ValueError("no task type given")
        return list(dict.fromkeys(cls(n) for n in names))


# Task types whose ``task`` column is a fixed instruction, not a definition the LLM brainstormed.
FIXED_TASK_TYPES = (TaskType.STS, TaskType.BITEXT)

# column -> (polars type, meaning); the order is the parts' column order.
ROW_COLUMNS: dict[str, tuple[pl.DataType, str]] = {
    "example_id": (pl.String, "16 hex digits: a hash of task type, language, task, query, positive and negative"),
    "task_type": (pl.String, "one of the configs: retrieval, classification, short_short, long_long, sts, bitext"),
    "language": (pl.String, "ISO 639-1 code of the texts (bitext: the shard's language, one side of the pair; "
                            "the sides are `placeholders.src_code` and `placeholders.tgt_code`)"),
    "task": (pl.String, "the task definition (E5: the instruction) the example was written for"),
    "query": (pl.String, "the query side of the pair"),
    "positive": (pl.String, "the text that should embed close to the query"),
    "negative": (pl.String, "a hard negative; null for short_short and long_long"),
    "model": (pl.String, "the generator that wrote the example"),
    "template_id": (pl.String, "the prompt template (versioned) that asked for it"),
    "placeholders": (pl.String, "JSON object: every value sampled into the prompt (query type, length, difficulty, ...)"),
    "raw": (pl.String, "JSON object of the validated LLM answer, keys as generated"),
    "prompt_tokens": (pl.Int64, "prompt tokens of the request that wrote it"),
    "completion_tokens": (pl.Int64, "completion tokens of that request"),
    "shard_seed": (pl.Int64, "the seed of the part that sampled it"),
    "example_index": (pl.Int64, "its index within the shard"),
}
ROW_SCHEMA = pl.Schema({name: dtype for name, (dtype, _) in ROW_COLUMNS.items()})
# The training triple and what identifies it: what the filters and training read.
TRIPLE_COLUMNS = ("example_id", "task_type", "language", "task", "query", "positive", "negative")

# What query / positive / negative hold, per task type (by its name).
TASK_COLUMNS = {
    TaskType.RETRIEVAL.value: ("a user query", "a document that answers it",
                         "a hard negative: a related document that does not"),
    TaskType.CLASSIFICATION.value: ("an input text", "its label", "a misleading label"),
    TaskType.SHORT_SHORT.value: ("a short text", "a short text that matches it", "none"),
    TaskType.LONG_LONG.value: ("a long text", "a long text that matches it", "none"),
    TaskType.STS.value: ("a sentence", "one highly similar to it", "one less similar to it"),
    TaskType.BITEXT.value: ("a sentence in the source language", "its translation in the target language",
                      "a less similar text in the target language"),
}
