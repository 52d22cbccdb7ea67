"""DedupEncoder embeds each distinct text once without changing any score; the random baseline is fixed."""

from __future__ import annotations

import numpy as np

from tasks.evaluate.encoders import DedupEncoder, RandomEncoder
from tasks.evaluate.mteb_tasks import BibleBitextMining, BibleRetrievalEnEs, LeeDocumentSimilarity
from tests.evaluate.mteb_run import run_tasks


def test_random_vectors_depend_on_the_text_only():
    a, b = RandomEncoder(dim=16), RandomEncoder(dim=16)
    vectors = a.embed_texts(["x", "y"])
    assert np.array_equal(vectors, b.embed_texts(["x", "y"]))
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0)
    # Fixed across processes too (sha256, not the salted hash()).
    assert round(float(vectors[0, 0]), 6) == round(float(RandomEncoder(dim=16).embed_texts(["x"])[0, 0]), 6)


def test_dedup_embeds_each_lee_document_once_and_scores_the_same(offline):
    plain = run_tasks(RandomEncoder(), [LeeDocumentSimilarity()])
    dedup = DedupEncoder(RandomEncoder())
    wrapped = run_tasks(dedup, [LeeDocumentSimilarity()])
    assert dedup.encoded == 50  # not 2 x 1,225
    assert wrapped["LeeDocumentSimilarity"].scores == plain["LeeDocumentSimilarity"].scores


def test_dedup_keys_on_task_and_role_unless_shared(offline):
    per_task, shared = DedupEncoder(RandomEncoder()), DedupEncoder(RandomEncoder(), share_across_tasks=True)
    for encoder in (per_task, shared):
        run_tasks(encoder, [BibleBitextMining(n_samples=30), BibleRetrievalEnEs(n_samples=30)])
    # Bitext mining's two directions share its 60 verses; retrieval embeds the same verses again,
    # as queries and documents of another task, unless the encoder may share across tasks.
    assert per_task.encoded == 120
    assert shared.encoded == 60
