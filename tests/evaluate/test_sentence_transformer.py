"""The exported-model encoder embeds what it says (model_inputs) and what mteb's instruction wrapper embeds.

Given a tiny random Llama exported as ``synthembed train`` exports (sentence-transformers folder),
the encoder :func:`load_encoder` builds must give mteb's ``InstructSentenceTransformerModel``'s
vectors for queries and documents, send the model exactly its memo keys with no prompt on top,
and score the three Bible tasks as that wrapper does with a per-task memo.
"""

from __future__ import annotations

import numpy as np
import pytest
from datasets import Dataset
from mteb.types import PromptType
from torch.utils.data import DataLoader

from tasks.benchmarks.instructions import E5_QUERY_TEMPLATE, with_instruction
from tasks.benchmarks.mteb_tasks import BibleBitextMining, BibleRetrievalEnEs, BibleRetrievalEsEn
from tasks.evaluate.baselines import local_model_meta
from tasks.evaluate.encoders import DedupEncoder
from tasks.evaluate.models import load_encoder, parse_model
from tasks.evaluate.sentence_transformer import SentenceTransformerEncoder
from tests.evaluate.mteb_run import run_tasks

pytestmark = [pytest.mark.usefixtures("offline"),
              pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
              pytest.mark.filterwarnings("ignore:Prompt type 'document' not found:UserWarning")]

MAX_LENGTH = 16
VERSES = ["In the beginning God created the heaven and the earth.", "Jesus wept.", "Y dijo Dios: Sea la luz."]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, offline) -> str:
    from tasks.train.merge import export_sentence_transformer
    from tasks.train.model import EmbeddingModel, apply_lora
    from tests.train.tiny import make_tokenizer, tiny_llama

    tokenizer = make_tokenizer()
    model = EmbeddingModel(apply_lora(tiny_llama(len(tokenizer)), rank=4, alpha=8))
    out = tmp_path_factory.mktemp("exported") / "model"
    return str(export_sentence_transformer(model, tokenizer, out, "Retrieve passages", max_length=MAX_LENGTH))


@pytest.fixture(scope="module")
def ours(exported, tmp_path_factory) -> DedupEncoder:
    return load_encoder(parse_model(exported), tmp_path_factory.mktemp("cache"), max_length=MAX_LENGTH, batch_size=2)


@pytest.fixture(scope="module")
def mtebs(exported):
    from mteb.models.instruct_wrapper import InstructSentenceTransformerModel

    wrapper = InstructSentenceTransformerModel(exported, revision=None, instruction_template=E5_QUERY_TEMPLATE,
                                               apply_instruction_to_passages=False, max_seq_length=MAX_LENGTH,
                                               device="cpu", local_files_only=True)
    wrapper.mteb_model_meta = local_model_meta("synthembed/tiny", "local", 32, MAX_LENGTH)
    return wrapper


def _encode(encoder, texts, task, prompt_type) -> np.ndarray:
    loader = DataLoader(Dataset.from_dict({"text": texts}), batch_size=2)
    return np.asarray(encoder.encode(loader, task_metadata=task.metadata, hf_split="test", hf_subset="default",
                                     prompt_type=prompt_type, batch_size=2))


@pytest.mark.parametrize("task, prompt_type", [
    (BibleRetrievalEnEs(n_samples=10), PromptType.query),
    (BibleRetrievalEnEs(n_samples=10), PromptType.document),
    (BibleBitextMining(n_samples=10), None),
], ids=["query", "document", "bitext"])
def test_the_vectors_of_mtebs_instruction_wrapper(ours, mtebs, task, prompt_type):
    encoder = ours.model
    np.testing.assert_allclose(_encode(encoder, VERSES, task, prompt_type), _encode(mtebs, VERSES, task, prompt_type),
                               atol=1e-6)


def test_the_model_receives_exactly_the_memo_keys(ours, monkeypatch):
    encoder, sent = ours.model, []
    real_encode = encoder.model.encode

    def spy(texts, **kwargs):
        sent.append((list(texts), kwargs.get("prompt")))
        return real_encode(texts, **kwargs)

    monkeypatch.setattr(encoder.model, "encode", spy)
    task = BibleRetrievalEsEn(n_samples=10)
    fresh = DedupEncoder(encoder)
    _encode(fresh, VERSES, task, PromptType.query)
    _encode(fresh, VERSES, task, PromptType.document)
    keys = fresh.memo_keys(VERSES, task.metadata, PromptType.query)
    assert keys == [with_instruction("BibleRetrievalEsEn", verse) for verse in VERSES]
    # Batches of at most 2 (batch_size), longest first: what reached the model, call by call, is the memo keys.
    assert all(prompt == "" and len(texts) <= 2 for texts, prompt in sent)
    queries = [text for texts, _ in sent for text in texts if text.startswith("Instruct:")]
    documents = [text for texts, _ in sent for text in texts if not text.startswith("Instruct:")]
    assert sorted(queries) == sorted(keys) and sorted(documents) == sorted(VERSES)


def _bible_tasks():
    return [BibleBitextMining(n_samples=20), BibleRetrievalEnEs(n_samples=20), BibleRetrievalEsEn(n_samples=20)]


def test_the_three_bible_tasks_score_as_with_mtebs_wrapper(ours, mtebs):
    shared = run_tasks(ours, _bible_tasks())
    theirs = run_tasks(DedupEncoder(mtebs), _bible_tasks())  # mteb's wrapper says nothing of its inputs: per task
    for name, result in theirs.items():
        assert shared[name].get_score() == pytest.approx(result.get_score(), abs=1e-6), name


def test_a_model_with_prompts_of_its_own_is_not_embedded_bare(exported):
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(exported, device="cpu", local_files_only=True)  # its "query" prompt is set
    meta = local_model_meta("synthembed/tiny", "local", 32, MAX_LENGTH)
    with pytest.raises(ValueError, match="prompts of its own"):
        SentenceTransformerEncoder(model, meta, instructions=False)
