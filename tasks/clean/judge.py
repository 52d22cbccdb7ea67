"""The LLM judge: each example rated 1–5 for relevance and correctness against its task, with a reason.

The teacher's meaning checks (:mod:`tasks.clean.meaning`) compare vectors; they cannot tell a
paraphrase from an answer ("I don't have a favorite movie" → "Why don't you want to see the classic
movies?") nor spot an invented fact. So, optionally (``--judge drop|mark``), the run's own LLM reads
every row the near-duplicate and decontamination filters keep — the teacher's rejects included, so the
two can be compared — and answers ``{"score": 1-5, "reason": "..."}``
(:data:`~tasks.clean.llm_prompts.JUDGE_TEMPLATE`).

=======================  ==================================================================================
reason                   rule
=======================  ==================================================================================
``judge_low_score``      the score is under ``threshold`` (default 3: "acceptable but weak" passes)
``judge_unparseable``    the answer is not the JSON asked for (LLM output is data: never a crash). Under
                         ``drop`` such a row is left out too: the judge could not vouch for it, as
                         generation discards an answer that is not valid JSON
=======================  ==================================================================================

A row the judge was not asked about — the budget ran out, or the request failed for good — gets no
verdict and stays; the entry's details count them (``not_asked``, ``failed``) and a rerun asks only
those (:mod:`tasks.clean.asking`: every answer is in the run's ledger). Verdicts carry ``score`` and
``why`` (the judge's reason, or the start of an unparseable answer).

The details also hold the scores' histogram and the judge's **agreement with the teacher**: over the
rows it scored, the share where both keep or both reject (the teacher rejects a row its meaning
checks flag; the judge one scoring under the threshold), with the four counts.

    judged = judge_rows(store, manifest, run_llm, rows, threshold=3, teacher_rejected=meaning["example_id"])
    judged.verdicts            # example_id, reason, score, why: the flagged rows
    judged.details["agreement"]   # {'rows': 24, 'share': 0.833, 'both_keep': 18, 'both_reject': 2, ...}
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl

from tasks.clean.asking import JUDGE, ask_rows, asked_report, question
from tasks.clean.llm_prompts import JUDGE_ID, judge_prompt
from tasks.llm.caller import AnswerRejected
from tasks.llm.json_text import strip_fences
from tasks.llm.requests import Completion
from tasks.llm.run_llm import RunLLM
from tasks.llm.sweep import KEPT
from tasks.runs.manifest import FilterEntry, Manifest
from tasks.storage.store import Store

LOW_SCORE, UNPARSEABLE = "judge_low_score", "judge_unparseable"
THRESHOLD = 3
MAX_TOKENS = 160  # a score and one sentence: ~40 tokens; room for a model that rambles a little
MAX_REASON_CHARS = 300
NOT_A_SCORE = "not a score from 1 to 5: "  # how an unparseable answer is noted, before its start
VERDICT_SCHEMA = {"example_id": pl.String, "reason": pl.String, "score": pl.Int64, "why": pl.String}


@dataclass(frozen=True)
class Judgement:
    """One rating: ``score`` 1–5 and the judge's one-line ``reason``."""

    score: int
    reason: str


class Unparseable(AnswerRejected):
    """The judge's answer is not ``{"score": 1-5, "reason": "..."}``: the ledger records it as such."""

    verdict = UNPARSEABLE


def parse_judgement(completion: Completion) -> Judgement:
    """The rating in an answer, or :class:`Unparseable`.

    >>> parse_judgement(Completion('```json\\n{"score": "4", "reason": "Fits.\\\\nMostly."}\\n```', "stop", 1, 1, 0.1))
    Judgement(score=4, reason='Fits. Mostly.')
    >>> parse_judgement(Completion('{"score": 7}', "stop", 1, 1, 0.1))
    Traceback (most recent call last):
    ...
    tasks.clean.judge.Unparseable: not a score from 1 to 5: '{"score": 7}'
    """
    try:
        data = json.loads(strip_fences(completion.text))
    except (json.JSONDecodeError, RecursionError):
        data = None
    score = data.get("score") if isinstance(data, dict) else None
    if isinstance(score, str) and score.strip().isdigit():  # "4": what small models write in JSON mode
        score = int(score.strip())
    if isinstance(score, float) and score.is_integer():
        score = int(score)
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise Unparseable(f"{NOT_A_SCORE}{completion.text[:80]!r}")
    reason = data.get("reason")
    reason = " ".join(reason.split())[:MAX_REASON_CHARS] if isinstance(reason, str) else ""
    return Judgement(score, reason)


@dataclass
class Judged:
    """The judge's verdicts (the rows it flags) and the entry's details."""

    verdicts: pl.DataFrame
    details: dict


def judge_rows(store: Store, manifest: Manifest, llm: RunLLM, rows: pl.DataFrame, threshold: float = THRESHOLD,
               teacher_rejected: pl.Series | None = None) -> Judged:
    """Ask the judge about every row; the rows it flags, and what it found.

    Args:
        store, manifest: the run (its ledger is where the answers are kept).
        llm: the run's LLM and budget.
        rows: the rows to judge (``example_id``, ``task_type``, ``task``, ``query``, ``positive``, ``negative``).
        threshold: the least score a row keeps.
        teacher_rejected: the example ids the meaning checks flag (None: they did not run): for the agreement.
    """
    records = rows.to_dicts()
    requests = [question(llm, judge_prompt(r), f"judge {r['task_type']}/{r['language']} {r['example_id']}", MAX_TOKENS)
                for r in records]
    asked = ask_rows(store, manifest, llm, JUDGE, requests, parse_judgement)
    flagged, scores = [], {}
    for record, outcome in zip(records, asked.swept.outcomes):
        if outcome.verdict == KEPT:
            scores[record["example_id"]] = outcome.value.score
            if outcome.value.score < threshold:
                flagged.append((record["example_id"], LOW_SCORE, outcome.value.score, outcome.value.reason))
        elif outcome.verdict == UNPARSEABLE:
            answer = outcome.note.removeprefix(NOT_A_SCORE)
            flagged.append((record["example_id"], UNPARSEABLE, None, answer))
    verdicts = pl.DataFrame(flagged, schema=VERDICT_SCHEMA, orient="row").sort("example_id")
    histogram = {str(s): sum(v == s for v in scores.values()) for s in range(1, 6)}
    details = {"model": llm.llm.model, "template": JUDGE_ID, "threshold": threshold, "rows_scored": len(scores),
               "scores": histogram, **asked.details(), "agreement": agreement(scores, threshold, teacher_rejected)}
    return Judged(verdicts, details)


def agreement(scores: dict[str, int], threshold: float, teacher_rejected: pl.Series | None) -> dict | None:
    """How often the judge and the teacher agree on the rows the judge scored (None without the teacher).

    >>> agreement({"a": 5, "b": 1, "c": 4, "d": 2}, 3, pl.Series(["b", "c"]))
    {'rows': 4, 'share': 0.5, 'both_keep': 1, 'both_reject': 1, 'only_judge_rejects': 1, 'only_teacher_rejects': 1}
    """
    if teacher_rejected is None:
        return None
    teacher = set(teacher_rejected.to_list())
    pairs = [(score < threshold, example_id in teacher) for example_id, score in scores.items()]
    counts = {"both_keep": pairs.count((False, False)), "both_reject": pairs.count((True, True)),
              "only_judge_rejects": pairs.count((True, False)), "only_teacher_rejects": pairs.count((False, True))}
    share = round((counts["both_keep"] + counts["both_reject"]) / len(pairs), 3) if pairs else None
    return {"rows": len(pairs), "share": share, **counts}


def judge_report(entry: FilterEntry) -> list[str]:
    """What ``synthembed clean`` prints of the judge beside the table: its agreement with the teacher, then
    what its questions cost (:func:`tasks.clean.asking.asked_report`).

    >>> print(judge_report(FilterEntry(path="p", details={"requests_paid": 3, "requests_reused": 21, "agreement": {
    ...     "rows": 24, "share": 0.833, "both_keep": 18, "both_reject": 2, "only_judge_rejects": 1,
    ...     "only_teacher_rejects": 3}}))[0])  # doctest: +NORMALIZE_WHITESPACE
    judge: agrees with the teacher on 83% of 24 rows (both keep 18, both reject 2, only the judge rejects 1,
    only the teacher rejects 3)
    """
    lines = []
    if agreed := entry.details.get("agreement"):
        lines.append(f"judge: agrees with the teacher on {agreed['share'] or 0:.0%} of {agreed['rows']} rows "
                     f"(both keep {agreed['both_keep']}, both reject {agreed['both_reject']}, only the judge rejects "
                     f"{agreed['only_judge_rejects']}, only the teacher rejects {agreed['only_teacher_rejects']})")
    return lines + asked_report(JUDGE, entry.details)
