"""The blocked exact search gives what a brute-force comparison gives, across block boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from tasks.clean import neighbours
from tasks.clean.neighbours import best_below, count_above


def _unit(rng, n, d=16):
    v = rng.standard_normal((n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


@pytest.mark.parametrize("block_elements", [7, 64, 1 << 24])  # one query per block, several, all at once
def test_blocked_search_matches_brute_force(monkeypatch, block_elements):
    monkeypatch.setattr(neighbours, "BLOCK_ELEMENTS", block_elements)
    rng = np.random.default_rng(0)
    queries, docs = _unit(rng, 23), _unit(rng, 41)
    bars = rng.uniform(-0.2, 0.6, 23).astype(np.float32)
    scores = queries @ docs.T

    assert count_above(queries, docs, bars).tolist() == (scores > bars[:, None] + neighbours.TIE).sum(1).tolist()

    indices, best = best_below(queries, docs, bars, 5)
    for i in range(len(queries)):
        under = [j for j in np.argsort(-scores[i], kind="stable") if scores[i, j] < bars[i]][:5]
        assert indices[i, : len(under)].tolist() == under  # the best under the bar, best first
        assert (indices[i, len(under):] == -1).all() and np.isneginf(best[i, len(under):]).all()
        assert (best[i, : len(under)] < bars[i]).all()


def test_fewer_documents_than_asked_and_no_documents():
    q = np.eye(2, dtype=np.float32)
    indices, _ = best_below(q, q[:1], np.array([2.0, 2.0], dtype=np.float32), 3)
    assert indices.tolist() == [[0, -1, -1], [0, -1, -1]]
    assert count_above(q, np.zeros((0, 2), np.float32), np.zeros(2, np.float32)).tolist() == [0, 0]
