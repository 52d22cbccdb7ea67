"""Encoders for the offline suite: one that embeds each distinct model input once, a base for
text-only encoders that says what its model embeds, and a random baseline.

mteb's evaluators embed column by column: the Lee task sends every document 49 times (once
per pair it is in), bitext mining sends the same verses again for the second direction, and
the three Bible tasks send the same verses again and again (MiniLM embeds them bare each time;
multilingual-e5-small as ``query: `` in all three). :class:`DedupEncoder` wraps an mteb encoder
and keeps one embedding per distinct *model input* — the exact string the model embeds, the
task's instruction or prefix already in front — for the whole evaluation of one model, so any
repeat costs nothing, within a task or across tasks, while a verse under another task's
instruction is a different input and is embedded again. mteb's own ``CachedEmbeddingWrapper``
caches on disk but still embeds repeats that arrive in the same call, which is exactly the Lee case.

:class:`TextEncoder` subclasses say what they embed (:meth:`TextEncoder.model_inputs`) and embed
exactly that, so the memo key and what reaches the model are the same strings by construction.

:class:`RandomEncoder` gives every text a fixed random vector: the floor any real model must
clear by a wide margin (STYLE.md: score a random baseline and a known model).

    model = DedupEncoder(SentenceTransformerEncoder(load_model(device="cpu"), meta))  # MiniLM
    mteb.evaluate(model, offline_tasks(), cache=None)

>>> vectors = RandomEncoder(dim=8).embed_texts(["a", "b", "a"])
>>> vectors.shape, bool((vectors[0] == vectors[2]).all()), bool((vectors[0] == vectors[1]).all())
((3, 8), True, False)
>>> from tasks.benchmarks.mteb_tasks import BibleRetrievalEnEs
>>> from mteb.types import PromptType
>>> e5_inputs(RandomEncoder(), ["Jesus wept."], BibleRetrievalEnEs.metadata, PromptType.query)
['Instruct: Given an English Bible verse, retrieve the Spanish verse that translates it\\nQuery: Jesus wept.']
>>> e5_inputs(RandomEncoder(), ["Jesus wept."], BibleRetrievalEnEs.metadata, PromptType.document)
['Jesus wept.']
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np
from mteb.models import ModelMeta
from mteb.models.abs_encoder import AbsEncoder
from mteb.types import PromptType
from torch.utils.data import DataLoader

from tasks.train.text import format_query

if TYPE_CHECKING:
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.models import EncoderProtocol
    from mteb.types import Array, BatchedInput


def _to_numpy(vectors: Any) -> np.ndarray:
    if hasattr(vectors, "detach"):  # a torch tensor
        vectors = vectors.detach().float().cpu().numpy()
    return np.asarray(vectors, dtype=np.float32)


class DedupEncoder:
    """An mteb encoder that embeds each distinct model input once and remembers it.

    The memo key is what the model embeds. When the wrapped encoder says so
    (``model_inputs(texts, task_metadata, prompt_type)``, as every :class:`TextEncoder` does),
    the key is that exact string, instruction or prefix included, and one embedding serves
    every task and role that sends the same input: a verse MiniLM embeds bare in three Bible
    tasks is embedded once, the same verse under two tasks' instructions twice. Any other
    encoder (a hub model from ``mteb.get_model``) is keyed on (task name, prompt type, text):
    within a task and role a text is embedded the same way whatever the split or subset (true
    of sentence-transformers and mteb's instruction wrappers). Text-only: inputs must have a
    ``text`` column.

    Memory: one float32 vector per distinct model input, plus the input strings themselves, for
    as long as the encoder lives (the evaluation of one model), never more than the distinct
    inputs of the tasks run. The default suite with an instruction model holds about 16k
    vectors (6 × 2,000 Bible inputs, 2 × 2,127 BBC articles under two instructions, 50 Lee
    documents): ~38 MB at 576 dimensions (SmolLM2-135M), ~58 MB at 896 (Qwen2.5-0.5B), and
    ~10 MB of key strings (mostly the articles, 4.8 MB of text, keyed once per instruction).

    Args:
        model: any mteb encoder, e.g. ``SentenceTransformerEncoder(st_model, meta)``.
        share_across_tasks: share one embedding between tasks that send the same model input
            (default). False keys on (task, prompt type, text) for every encoder: the
            per-task memo, for comparisons (benchmarks, the tests that sharing changes no score).
    """

    def __init__(self, model: EncoderProtocol, share_across_tasks: bool = True) -> None:
        self.model = model
        self.share_across_tasks = share_across_tasks and hasattr(model, "model_inputs")
        self._memo: dict[str | tuple[str, str | None, str], np.ndarray] = {}
        self.encoded = 0  # inputs actually sent to the wrapped model, for tests and curiosity

    @property
    def mteb_model_meta(self) -> ModelMeta:
        return self.model.mteb_model_meta

    def memo_keys(self, texts: list[str], task_metadata: TaskMetadata,
                  prompt_type: PromptType | None) -> list[str | tuple[str, str | None, str]]:
        """One key per text: the model input itself when sharing, else (task, prompt type, text)."""
        if self.share_across_tasks:
            return self.model.model_inputs(texts, task_metadata, prompt_type)
        role = prompt_type.value if prompt_type is not None else None
        return [(task_metadata.name, role, text) for text in texts]

    def encode(
        self,
        inputs: DataLoader[BatchedInput],
        *,
        task_metadata: TaskMetadata,
        hf_split: str,
        hf_subset: str,
        prompt_type: PromptType | None = None,
        **kwargs: Any,
    ) -> Array:
        dataset = inputs.dataset  # a datasets.Dataset, already prepared by mteb's dataloader helpers
        keys = self.memo_keys(list(dataset["text"]), task_metadata, prompt_type)
        first_unseen: dict[str | tuple[str, str | None, str], int] = {}
        for index, key in enumerate(keys):
            if key not in self._memo and key not in first_unseen:
                first_unseen[key] = index
        if first_unseen:
            # Same batch size and collate function as mteb chose, over the unseen rows only.
            loader = DataLoader(
                dataset.select(list(first_unseen.values())),
                batch_size=inputs.batch_size,
                collate_fn=inputs.collate_fn,
            )
            vectors = _to_numpy(
                self.model.encode(
                    loader,
                    task_metadata=task_metadata,
                    hf_split=hf_split,
                    hf_subset=hf_subset,
                    prompt_type=prompt_type,
                    **kwargs,
                )
            )
            self._memo.update(zip(first_unseen, vectors, strict=True))
            self.encoded += len(first_unseen)
        return np.stack([self._memo[key] for key in keys])

    def similarity(self, embeddings1: Array, embeddings2: Array) -> Array:
        return self.model.similarity(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Array, embeddings2: Array) -> Array:
        return self.model.similarity_pairwise(embeddings1, embeddings2)


class TextEncoder(AbsEncoder):
    """An mteb encoder over plain texts that says exactly what its model embeds.

    mteb hands encoders a DataLoader plus the task's metadata; text models need just the
    texts, the task (for its instruction) and the role (query or document). Subclasses give
    :meth:`model_inputs` (default: the texts as they are, for models without instructions)
    and :meth:`embed_texts`, which embeds those strings as they are; an engine that adds its
    own prefix overrides :meth:`embed_inputs` instead and says in :meth:`model_inputs` what it adds.
    """

    def encode(
        self,
        inputs: DataLoader[BatchedInput],
        *,
        task_metadata: TaskMetadata,
        hf_split: str,
        hf_subset: str,
        prompt_type: PromptType | None = None,
        **kwargs: Any,
    ) -> Array:
        return self.embed_inputs(list(inputs.dataset["text"]), task_metadata, prompt_type)

    def model_inputs(self, texts: list[str], task_metadata: TaskMetadata, prompt_type: PromptType | None) -> list[str]:
        """The exact strings the model embeds for ``texts`` in this task and role (:class:`DedupEncoder`'s keys)."""
        return list(texts)

    def embed_inputs(self, texts: list[str], task_metadata: TaskMetadata, prompt_type: PromptType | None) -> np.ndarray:
        return self.embed_texts(self.model_inputs(texts, task_metadata, prompt_type))

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Final model inputs (instruction already in front) -> one vector per text."""
        raise NotImplementedError


def e5_inputs(encoder: AbsEncoder, texts: list[str], task_metadata: TaskMetadata,
              prompt_type: PromptType | None) -> list[str]:
    """E5-mistral's inputs: the task's instruction in front of queries (``Instruct: {task}\\nQuery: {text}``,
    the training format), documents bare; the instruction is found the way mteb's wrappers find it."""
    instruction = "" if prompt_type == PromptType.document else encoder.get_instruction(task_metadata, prompt_type)
    return [format_query(instruction, text) for text in texts] if instruction else list(texts)


class RandomEncoder(TextEncoder):
    """Each distinct text gets a fixed random unit vector (seeded by a hash of the text).

    Identical texts get identical vectors and anything else is unrelated, so scores sit at
    chance: bitext F1 and retrieval nDCG near 1/N, correlations near 0, accuracy near 1/labels.
    """

    def __init__(self, dim: int = 384) -> None:
        self.dim = dim
        self.mteb_model_meta = ModelMeta.create_empty(
            overwrites={"name": "synthembed/random-baseline", "revision": "1", "embed_dim": dim}
        )

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            # sha256, not hash(): Python salts str hashes per process, and the baseline must not move.
            seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
            vector = np.random.default_rng(seed).standard_normal(self.dim)
            vectors[row] = vector / np.linalg.norm(vector)
        return vectors
