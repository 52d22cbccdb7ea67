"""Which whole-run filters run over a run's rows, and against what: one setting of a run.

>>> CleanSettings().decontaminate, CleanSettings(near_duplicates=False).query_threshold, CleanSettings().meaning
('drop', 0.8, 'drop')
>>> CleanSettings(teacher="st:/models/my-e5").teacher, CleanSettings(meaning="mark").mine_negatives
('st:/models/my-e5', 3)
>>> CleanSettings().needs_llm, CleanSettings(judge="drop").judge_threshold
(False, 3.0)
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from tasks.clean.judge import THRESHOLD as JUDGE_THRESHOLD
from tasks.clean.meaning import TOP_K, TRANSLATION_THRESHOLD
from tasks.clean.mining import PER_QUERY, SCORE_RATIO
from tasks.clean.relabel import CANDIDATES as RELABEL_CANDIDATES
from tasks.clean.teacher import DEFAULT_TEACHER, parse_teacher


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
        meaning: ``drop`` rows whose meaning the teacher finds inconsistent (:mod:`tasks.clean.meaning`),
            only ``mark`` them, or ``off``.
        teacher: the embedder that judges: ``e5-small``, ``st:NAME_OR_PATH`` or ``http(s)://HOST/v1#MODEL``
            (:mod:`tasks.clean.teacher`).
        meaning_top_k: the worst rank a positive may have among its task type and language's documents.
        translation_threshold: the least teacher similarity of a bitext pair.
        mine_negatives: hard negatives mined per row from the run's documents (0: no mining).
        negative_score_ratio: a mined negative scores under this share of the positive's score.
        judge: ``drop`` rows the run's LLM scores under ``judge_threshold`` (:mod:`tasks.clean.judge`), only
            ``mark`` them, or ``off`` (the default: it is paid per row).
        judge_threshold: the least score (1–5) a judged row keeps.
        relabel: let the run's LLM pick each query's best positive among the teacher's top candidates
            (:mod:`tasks.clean.relabel`; paid per row).
        relabel_candidates: candidates shown per query, its own positive included.
    """

    near_duplicates: bool = True
    query_threshold: float = Field(0.8, gt=0, le=1)
    document_threshold: float = Field(0.7, gt=0, le=1)
    decontaminate: Literal["drop", "mark", "off"] = "drop"
    offline_suite: bool = True
    evaluation_files: list[str] = Field(default_factory=list)
    mteb_tasks: list[str] = Field(default_factory=list)
    meaning: Literal["drop", "mark", "off"] = "drop"
    teacher: str = DEFAULT_TEACHER
    meaning_top_k: int = Field(TOP_K, ge=1)
    translation_threshold: float = Field(TRANSLATION_THRESHOLD, ge=-1, le=1)
    mine_negatives: int = Field(PER_QUERY, ge=0, le=64)
    negative_score_ratio: float = Field(SCORE_RATIO, gt=0, le=1)
    judge: Literal["drop", "mark", "off"] = "off"
    judge_threshold: float = Field(float(JUDGE_THRESHOLD), ge=1, le=5)
    relabel: bool = False
    relabel_candidates: int = Field(RELABEL_CANDIDATES, ge=2, le=20)

    @field_validator("teacher")
    @classmethod
    def _known_teacher(cls, spec: str) -> str:
        parse_teacher(spec)
        return spec.strip()

    @property
    def needs_teacher(self) -> bool:
        return self.meaning != "off" or self.mine_negatives > 0 or self.relabel

    @property
    def needs_llm(self) -> bool:
        """Whether a filter asks the run's LLM (paid per row, through the run's ledger and budget)."""
        return self.judge != "off" or self.relabel
