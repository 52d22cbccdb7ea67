"""DedupEncoder embeds each distinct input once without changing any score; the random baseline is fixed.

Sharing across tasks, with encoders that format their inputs, is tested in test_sharing.py."""

from __future__ import annotations

import numpy as np

from tasks.benchmarks.mteb_tasks import BibleBitextMining, BibleRetrievalEnEs, LeeDocumentSimilarity
from tasks.evaluate.encoders import DedupEncoder, RandomEncoder
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


def test_dedup_keys_on_the_model_input_unless_told_to_keep_tasks_apart(offline):
    shared, per_task = DedupEncoder(RandomEncoder()), DedupEncoder(RandomEncoder(), share_across_tasks=False)
    for encoder in (shared, per_task):
        run_tasks(encoder, [BibleBitextMining(n_samples=30), BibleRetrievalEnEs(n_samples=30)])
    # Bitext mining's two directions share its 60 verses; retrieval sends the same verses again
    # (the random baseline embeds them bare), which a per-task memo embeds a second time.
    assert shared.encoded == 60
    assert per_task.encoded == 120


def test_an_encoder_that_does_not_say_what_it_embeds_is_kept_per_task(offline):
    class Opaque:  # an mteb encoder without model_inputs, like a hub model's wrapper
        def __init__(self):
            self.inner = RandomEncoder()
            self.mteb_model_meta = self.inner.mteb_model_meta
            self.encode, self.similarity = self.inner.encode, self.inner.similarity
            self.similarity_pairwise = self.inner.similarity_pairwise

    opaque = DedupEncoder(Opaque())
    run_tasks(opaque, [BibleBitextMining(n_samples=30), BibleRetrievalEnEs(n_samples=30)])
    assert not opaque.share_across_tasks and opaque.encoded == 120
