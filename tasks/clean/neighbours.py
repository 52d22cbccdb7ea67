"""Exact nearest-neighbour questions over unit vectors, answered block by block with numpy.

The meaning checks ask, per query, how many of its group's documents score above its positive;
the mining asks for the best documents scoring *below* a bar. Both are exact inner products of
one (task type, language) group's queries with its documents, computed in blocks of queries so
memory stays near :data:`BLOCK_ELEMENTS` scores whatever the group's size. At the paper's scale the
largest group is ~36k queries × ~72k documents: one BLAS matmul of 1e12 multiply-adds, minutes
on two cores (``make bench-meaning``); an approximate index (FAISS, hnswlib) would save little at
that size and cannot answer "how many score above this bar" exactly.

>>> q = np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)
>>> d = np.array([[1.0, 0.0], [0.6, 0.8], [0.0, 1.0]], dtype=np.float32)
>>> count_above(q, d, np.array([0.5, 0.9])).tolist()     # query 0: 1.0 and 0.6 beat 0.5; query 1: 1.0 beats 0.9
[2, 1]
>>> best_below(q, d, np.array([0.9, 0.9]), 2)[0].tolist()     # the best two under 0.9, best first; -1: none left
[[1, 2], [1, 0]]
"""

from __future__ import annotations

import numpy as np

BLOCK_ELEMENTS = 1 << 24  # scores held at once (64 MiB of float32)
TIE = 1e-5  # a document within this of the bar is not "above" it: the same vector, summed in another order


def _blocks(n_queries: int, n_docs: int):
    rows = max(1, BLOCK_ELEMENTS // max(n_docs, 1))
    for start in range(0, n_queries, rows):
        yield slice(start, min(start + rows, n_queries))


def count_above(queries: np.ndarray, docs: np.ndarray, bars: np.ndarray) -> np.ndarray:
    """For each query, how many documents score (inner product) above its bar (by more than :data:`TIE`)."""
    counts = np.zeros(len(queries), dtype=np.int64)
    if not len(docs):
        return counts
    for block in _blocks(len(queries), len(docs)):
        scores = queries[block] @ docs.T
        counts[block] = (scores > (bars[block] + TIE)[:, None]).sum(axis=1)
    return counts


def best_below(queries: np.ndarray, docs: np.ndarray, bars: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the ``m`` documents scoring highest while under its bar, best first.

    Returns (indices, scores), both ``(len(queries), m)``; index -1 (score -inf) where fewer
    documents are under the bar.
    """
    n = len(queries)
    indices = np.full((n, m), -1, dtype=np.int64)
    best = np.full((n, m), -np.inf, dtype=np.float32)
    if not len(docs) or m <= 0:
        return indices, best
    take = min(m, len(docs))
    for block in _blocks(n, len(docs)):
        scores = queries[block] @ docs.T
        scores[scores >= bars[block][:, None]] = -np.inf
        top = np.argpartition(-scores, take - 1, axis=1)[:, :take] if take < len(docs) else (
            np.broadcast_to(np.arange(len(docs)), scores.shape).copy())
        top_scores = np.take_along_axis(scores, top, axis=1)
        order = np.argsort(-top_scores, axis=1, kind="stable")
        top, top_scores = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_scores, order, axis=1)
        indices[block, :take] = np.where(np.isfinite(top_scores), top, -1)
        best[block, :take] = top_scores
    return indices, best
