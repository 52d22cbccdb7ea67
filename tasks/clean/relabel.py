"""Relabeling (Gecko's FRet): the LLM picks each query's best positive among the teacher's top candidates.

A generator writes a query and "its" document together, yet another document of the run often answers
the query better (Gecko, Lee et al. 2024, §3.2: for about 15 % of their queries the LLM preferred another
passage to the one the query was generated from). So, optionally (``--relabel``), for each row the run
keeps, the teacher ranks the run's documents of the same task type and language (every kept row's
positive and negative, as the meaning checks and the mining do) and its top ``candidates`` — its own
positive always among them, its own negative never — are shown to the run's LLM
(:data:`~tasks.clean.llm_prompts.RELABEL_TEMPLATE`), which answers
``{"best": <number>, "relevant": [<numbers>]}``.

* the choice replaces the positive when it is another document (reason ``relabeled``);
* the old positive becomes one of the row's negatives only if the LLM does not count it relevant at all
  (reason ``relabeled_old_positive_irrelevant``); a relevant one is simply no longer used;
* an unparseable answer, a row the budget left unasked, or one with no other candidate keeps its positive.

Only the task types whose positive is a document among others are relabeled: retrieval, short–short
and long–long (a label is shared by many inputs; an STS or bitext pair is defined by the row itself).
The result is a ``replace`` entry (:mod:`tasks.runs.verdicts`): ``example_id``, ``reason``, ``positive``
(the new one), ``negatives`` (the old one, or none) and ``old_positive``, which training reads through
:func:`tasks.runs.parts.scan_run` (``relabeled=True``) and the mining ranks against.

    relabeled = relabel_rows(store, manifest, run_llm, kept_rows, vectors, candidates=4)
    relabeled.changes        # example_id, reason, positive, negatives, old_positive: the rows whose positive changes
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import polars as pl

from tasks.clean.asking import RELABEL, ask_rows, asked_report, question
from tasks.clean.embedding_cache import RunVectors
from tasks.clean.llm_prompts import RELABEL_ID, relabel_prompt
from tasks.clean.meaning import document_role, group_documents
from tasks.clean.neighbours import best_below
from tasks.llm.caller import AnswerRejected
from tasks.llm.json_text import strip_fences
from tasks.llm.requests import Completion
from tasks.llm.run_llm import RunLLM
from tasks.llm.sweep import KEPT
from tasks.runs.manifest import FilterEntry, Manifest
from tasks.storage.store import Store

CANDIDATES = 4  # Gecko shows its LLM the top 20; a small local model reads 4 long documents more reliably
RELABEL_TYPES = ("retrieval", "short_short", "long_long")
RELABELED, OLD_IRRELEVANT, UNPARSEABLE = "relabeled", "relabeled_old_positive_irrelevant", "relabel_unparseable"
MAX_TOKENS = 96  # a number and a short list
CHANGE_SCHEMA = {"example_id": pl.String, "reason": pl.String, "positive": pl.String,
                 "negatives": pl.List(pl.String), "old_positive": pl.String}


@dataclass(frozen=True)
class Choice:
    """The LLM's answer: the ``best`` candidate and the ``relevant`` ones (numbers from 1)."""

    best: int
    relevant: frozenset[int]


class Unparseable(AnswerRejected):
    """The relabeler's answer is not ``{"best": n, "relevant": [...]}`` for the candidates shown."""

    verdict = UNPARSEABLE


def _number(value) -> int | None:
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def choice_parser(candidates: int):
    """The parser of an answer about ``candidates`` candidates: a :class:`Choice`, or :class:`Unparseable`.

    >>> choice_parser(3)(Completion('{"best": "2", "relevant": [2, 3, 9]}', "stop", 1, 1, 0.1))
    Choice(best=2, relevant=frozenset({2, 3}))
    >>> choice_parser(3)(Completion('{"best": 4, "relevant": []}', "stop", 1, 1, 0.1))
    Traceback (most recent call last):
    ...
    tasks.clean.relabel.Unparseable: not a choice among 3 candidates: '{"best": 4, "relevant": []}'
    """
    def parse(completion: Completion) -> Choice:
        try:
            data = json.loads(strip_fences(completion.text))
        except (json.JSONDecodeError, RecursionError):
            data = None
        best = _number(data.get("best")) if isinstance(data, dict) else None
        relevant = data.get("relevant") if isinstance(data, dict) else None
        if best is None or not 1 <= best <= candidates or not isinstance(relevant, list):
            raise Unparseable(f"not a choice among {candidates} candidates: {completion.text[:80]!r}")
        numbers = (_number(n) for n in relevant)
        return Choice(best, frozenset(n for n in numbers if n is not None and 1 <= n <= candidates))
    return parse


def candidate_lists(rows: pl.DataFrame, vectors: RunVectors, candidates: int) -> list[list[str]]:
    """Per row, the documents shown to the LLM: the teacher's best ``candidates`` of the row's group, best first,
    never the row's own negative, its own positive always among them (in place of the last if it ranked lower)."""
    shown: list[list[str]] = [[] for _ in range(rows.height)]
    indexed = rows.with_row_index("_at")
    for group in indexed.partition_by(["task_type", "language"], maintain_order=True):
        if group["task_type"][0] not in RELABEL_TYPES:
            continue
        documents = group_documents(group)
        at = {text: i for i, text in enumerate(documents)}
        queries = vectors.of(group["query"], "query")
        docs = vectors.of(documents, document_role(group["task_type"][0]))
        best, _ = best_below(queries, docs, np.full(group.height, np.inf, dtype=np.float32), candidates + 1)
        for row, ranked, positive, negative in zip(group["_at"], best, group["positive"], group["negative"]):
            own_negative = at.get(negative, -1) if negative is not None else -1
            chosen = [j for j in ranked if j >= 0 and j != own_negative][:candidates]
            if at[positive] not in chosen:
                chosen = [*chosen[: candidates - 1], at[positive]]
            shown[row] = [documents[j] for j in chosen]
    return shown


@dataclass
class Relabeled:
    """The rows whose positive changes (:data:`CHANGE_SCHEMA`) and the entry's details."""

    changes: pl.DataFrame
    details: dict


def relabel_rows(store: Store, manifest: Manifest, llm: RunLLM, rows: pl.DataFrame, vectors: RunVectors,
                 candidates: int = CANDIDATES) -> Relabeled:
    """Ask the LLM for each row's best positive among its candidates; the rows whose positive changes.

    Args:
        store, manifest: the run (its ledger is where the answers are kept).
        llm: the run's LLM and budget.
        rows: the rows the run keeps (``example_id``, ``task_type``, ``language``, ``task``, ``query``,
            ``positive``, ``negative``).
        vectors: the teacher's vectors, cached in the run.
        candidates: documents shown per query, its own positive included.
    """
    shown = candidate_lists(rows, vectors, candidates)
    asked_rows = [(record, texts) for record, texts in zip(rows.to_dicts(), shown) if len(texts) > 1]
    requests = [question(llm, relabel_prompt(record, texts), f"relabel {record['task_type']}/{record['language']} "
                         f"{record['example_id']}", MAX_TOKENS) for record, texts in asked_rows]
    asked = ask_rows(store, manifest, llm, RELABEL, requests, [choice_parser(len(texts)) for _, texts in asked_rows])
    changes = []
    for (record, texts), outcome in zip(asked_rows, asked.swept.outcomes):
        if outcome.verdict != KEPT or texts[outcome.value.best - 1] == record["positive"]:
            continue
        own = texts.index(record["positive"]) + 1
        irrelevant = own not in outcome.value.relevant
        changes.append((record["example_id"], OLD_IRRELEVANT if irrelevant else RELABELED,
                        texts[outcome.value.best - 1], [record["positive"]] if irrelevant else [], record["positive"]))
    frame = pl.DataFrame(changes, schema=CHANGE_SCHEMA, orient="row").sort("example_id")
    details = {"model": llm.llm.model, "template": RELABEL_ID, "candidates": candidates, "teacher": vectors.teacher.key,
               "rows_asked": len(asked_rows), "unparseable": asked.swept.count(UNPARSEABLE), **asked.details()}
    return Relabeled(frame, details)


def relabel_report(entry: FilterEntry) -> list[str]:
    """What ``synthembed clean`` prints of the relabeler beside the table (:func:`tasks.clean.asking.asked_report`).

    >>> relabel_report(FilterEntry(path="p", details={"rows_asked": 10, "unparseable": 1, "requests_paid": 10}))[0]
    'relabel: 10 row(s) asked, 1 answer(s) unparseable (their positives kept)'
    """
    details = entry.details
    return [f"relabel: {details.get('rows_asked', 0)} row(s) asked, {details.get('unparseable', 0)} answer(s) "
            "unparseable (their positives kept)", *asked_report(RELABEL, details)]
