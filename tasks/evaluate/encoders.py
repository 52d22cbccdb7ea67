"""Encoders for the offline suite: one that embeds each distinct text once, a base for text-only
encoders, and a random baseline.

mteb's evaluators embed column by column: the Lee task sends every document 49 times (once
per pair it is in), bitext mining sends the same verses again for the second direction.
:class:`DedupEncoder` wraps any mteb encoder and keeps one embedding per (task, prompt type,
text) in memory, so repeated texts cost nothing. mteb's own ``CachedEmbeddingWrapper`` caches
on disk but still embeds repeats that arrive in the same call, which is exactly the Lee case.

:class:`RandomEncoder` gives every text a fixed random vector: the floor any real model must
clear by a wide margin (STYLE.md: score a random baseline and a known model).

    model = DedupEncoder(mteb.models.SentenceTransformerEncoderWrapper(load_model(device="cpu")))
    mteb.evaluate(model, offline_tasks(), cache=None)

>>> vectors = RandomEncoder(dim=8).embed_texts(["a", "b", "a"])
>>> vectors.shape, bool((vectors[0] == vectors[2]).all()), bool((vectors[0] == vectors[1]).all())
((3, 8), True, False)
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

import numpy as np
from mteb.models import ModelMeta
from mteb.models.abs_encoder import AbsEncoder
from torch.utils.data import DataLoader

if TYPE_CHECKING:
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.models import EncoderProtocol
    from mteb.types import Array, BatchedInput, PromptType


def _to_numpy(vectors: Any) -> np.ndarray:
    if hasattr(vectors, "detach"):  # a torch tensor
        vectors = vectors.detach().float().cpu().numpy()
    return np.asarray(vectors, dtype=np.float32)


class DedupEncoder:
    """An mteb encoder that embeds each distinct text of a task once and remembers it.

    The memo key is (task name, prompt type, text): the same text may get a different
    instruction in another task or as a query rather than a document, but within a task and
    role it is embedded the same way whatever the split or subset (true of sentence-transformers
    and mteb's instruction wrappers). Text-only: inputs must have a ``text`` column.

    Args:
        model: any mteb encoder, e.g. ``SentenceTransformerEncoderWrapper(st_model)``.
        share_across_tasks: key on the text alone, so a text seen by one task is not embedded
            again for another. Only for models that use no instructions or prompts at all
            (e.g. all-MiniLM-L6-v2); an E5-style model embeds a query differently per task.
    """

    def __init__(self, model: EncoderProtocol, share_across_tasks: bool = False) -> None:
        self.model = model
        self.share_across_tasks = share_across_tasks
        self._memo: dict[tuple[str, str | None, str], np.ndarray] = {}
        self.encoded = 0  # texts actually sent to the wrapped model, for tests and curiosity

    @property
    def mteb_model_meta(self) -> ModelMeta:
        return self.model.mteb_model_meta

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
        task, role = task_metadata.name, (prompt_type.value if prompt_type is not None else None)
        if self.share_across_tasks:
            task, role = "", None
        keys = [(task, role, text) for text in dataset["text"]]
        first_unseen: dict[tuple[str, str | None, str], int] = {}
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
    """An mteb encoder over plain texts: subclasses implement :meth:`embed_inputs` only.

    mteb hands encoders a DataLoader plus the task's metadata; text models need just the
    texts, the task (for its instruction) and the role (query or document).
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

    def embed_inputs(self, texts: list[str], task_metadata: TaskMetadata, prompt_type: PromptType | None) -> np.ndarray:
        raise NotImplementedError


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

    def embed_inputs(self, texts: list[str], task_metadata: TaskMetadata, prompt_type: PromptType | None) -> np.ndarray:
        return self.embed_texts(texts)
