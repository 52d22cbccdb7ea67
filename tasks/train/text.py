"""Input text for the embedding model: the instruction format and tokenization that ends in EOS.

Queries carry the task instruction, documents are bare (REFERENCE §3, paper §3.2):

>>> format_query("Given a web search query, retrieve relevant passages", "capital of Peru")
'Instruct: Given a web search query, retrieve relevant passages\\nQuery: capital of Peru'

Every input must end with EOS, because last-token pooling reads the hidden state there. With
transformers >= 5 many tokenizers silently stop adding EOS even when their config says so
(SmolLM2 adds none), so :func:`tokenize_with_eos` appends it itself and then checks that the
token the pooling will pick really is EOS::

    batch = tokenize_with_eos(tokenizer, ["a query", "a longer document"], max_length=512)
    batch["input_ids"].shape, batch["attention_mask"].shape  # (2, L) each, L <= 512
"""

from __future__ import annotations

from typing import Literal

import torch

from tasks.train.pooling import last_token_indices

PaddingSide = Literal["left", "right"]


def format_query(task: str, query: str) -> str:
    """The query side of a pair: the one-sentence task instruction, then the query."""
    return f"Instruct: {task}\nQuery: {query}"


def tokenize_with_eos(
    tokenizer,
    texts: list[str],
    max_length: int,
    padding_side: PaddingSide = "left",
) -> dict[str, torch.Tensor]:
    """Tokenize ``texts`` so that each row ends with exactly one EOS, then pad into tensors.

    Args:
        tokenizer: a Hugging Face tokenizer with an ``eos_token_id``. Padding uses its
            ``pad_token_id``, or EOS when it has none (the mask hides padding either way).
        texts: the already formatted texts (see :func:`format_query`).
        max_length: the longest row, EOS included; longer texts are cut before the EOS.
        padding_side: ``"left"`` (every row's EOS in the last column) or ``"right"``.

    Returns:
        ``{"input_ids": (B, L) long, "attention_mask": (B, L) long}`` with L the longest row.
    """
    eos = tokenizer.eos_token_id
    if eos is None:
        raise ValueError(f"{type(tokenizer).__name__} has no eos_token: last-token pooling needs one to append")
    if max_length < 2:
        raise ValueError(f"max_length must be >= 2 (at least one text token plus EOS), got {max_length}")
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    if not texts:
        raise ValueError("texts is empty")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos

    # Special tokens as the model was trained with them (BOS for Llama/Mistral), one slot kept for EOS.
    encoded = tokenizer(list(texts), add_special_tokens=True, truncation=True, max_length=max_length - 1,
                        padding=False)["input_ids"]
    rows = []
    for ids in encoded:
        ids = list(ids)
        if ids and ids[-1] == eos:  # a tokenizer that still adds EOS: keep exactly one
            ids.pop()
        rows.append(ids + [eos])

    seq_len = max(len(ids) for ids in rows)
    input_ids = torch.full((len(rows), seq_len), pad, dtype=torch.long)
    attention_mask = torch.zeros((len(rows), seq_len), dtype=torch.long)
    for i, ids in enumerate(rows):
        span = slice(seq_len - len(ids), seq_len) if padding_side == "left" else slice(0, len(ids))
        input_ids[i, span] = torch.tensor(ids, dtype=torch.long)
        attention_mask[i, span] = 1

    # The check that matters: the token the pooling will read is EOS in every row.
    picked = input_ids.gather(1, last_token_indices(attention_mask).unsqueeze(1)).squeeze(1)
    if not bool(picked.eq(eos).all()):
        raise RuntimeError("internal error: a row's last real token is not EOS")
    return {"input_ids": input_ids, "attention_mask": attention_mask}
