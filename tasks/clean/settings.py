"""Which whole-run filters run over a run's rows, and against what: one setting of a run.

>>> CleanSettings().decontaminate, CleanSettings(near_duplicates=False).query_threshold
('drop', 0.8)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class CleanSettings(BaseModel):
    """Which filters run over a run's rows, and against what.

    Args:
        near_duplicates: drop near-duplicate queries and documents (MinHash LSH, keep first).
        query_threshold / document_threshold: shingle Jaccard that makes two texts duplicates.
        decontaminate: ``drop`` rows sharing an n-gram with evaluation data, only ``mark``
            them (reported, still read), or ``off``.
        offline_suite: decontaminate against every text the offline evaluation suite scores.
        evaluation_files: more evaluation texts (.txt: one per line, .jsonl/.parquet: ``text``).
        mteb_tasks: mteb task names whose texts to load from the Hugging Face hub.
    """

    near_duplicates: bool = True
    query_threshold: float = Field(0.8, gt=0, le=1)
    document_threshold: float = Field(0.7, gt=0, le=1)
    decontaminate: Literal["drop", "mark", "off"] = "drop"
    offline_suite: bool = True
    evaluation_files: list[str] = Field(default_factory=list)
    mteb_tasks: list[str] = Field(default_factory=list)
