"""The untrained-base encoder embeds exactly as training does: instruction on queries only, EOS, last token."""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Dataset
from mteb.types import PromptType
from torch.utils.data import DataLoader

from tasks.benchmarks.instructions import with_instruction
from tasks.evaluate.baselines import LastTokenEncoder
from tasks.evaluate.suite import select_tasks
from tasks.train.base_model import resolve_base_model

pytestmark = pytest.mark.usefixtures("offline")


@pytest.fixture(scope="module")
def smollm2(offline):
    return LastTokenEncoder(resolve_base_model("smollm2-135m"), "synthembed/base-smollm2-135m", max_length=64)


def _encode(encoder, texts, task, prompt_type):
    loader = DataLoader(Dataset.from_dict({"text": texts}), batch_size=2)
    return encoder.encode(loader, task_metadata=task.metadata, hf_split="test", hf_subset="default",
                          prompt_type=prompt_type)


def test_queries_get_the_task_instruction_and_documents_do_not(smollm2):
    task = select_tasks(["BibleRetrievalEnEs"], bible_samples=10)[0]
    texts = ["In the beginning God created the heaven and the earth.", "Jesus wept."]
    queries = _encode(smollm2, texts, task, PromptType.query)
    documents = _encode(smollm2, texts, task, PromptType.document)
    expected_queries = smollm2.embed_texts([with_instruction("BibleRetrievalEnEs", t) for t in texts])
    assert np.allclose(queries, expected_queries, atol=1e-5)
    assert np.allclose(documents, smollm2.embed_texts(texts), atol=1e-5)
    assert not np.allclose(queries, documents, atol=1e-3)
    assert np.allclose(np.linalg.norm(queries, axis=1), 1.0, atol=1e-5)
    assert smollm2.mteb_model_meta.embed_dim == queries.shape[1] == 576
