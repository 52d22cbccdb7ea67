"""Last-token pooling: the embedding is the hidden state at each row's last real token (REFERENCE §3).

A decoder attends left to right, so only the last token has seen the whole text. Every input
ends with EOS (see :mod:`tasks.train.text`), so the pooled state is the one at EOS. Padding
moves that position: with right padding it is ``mask.sum(1) - 1``, with left padding it is
always the last column.

>>> hidden = torch.arange(4.0).view(1, 4, 1).repeat(2, 1, 1)  # value = position
>>> right = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]])
>>> last_token_pool(hidden, right).squeeze(-1).tolist()
[1.0, 3.0]
>>> left = torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]])
>>> last_token_pool(hidden, left).squeeze(-1).tolist()
[3.0, 3.0]
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def last_token_indices(attention_mask: torch.Tensor) -> torch.Tensor:
    """The column of each row's last real token, shape (B,), for a (B, L) 0/1 mask.

    The mask must be contiguous per row (one run of ones), as tokenizers produce. One formula
    for both padding sides, the largest column holding a 1, so that no value is read back to
    the host: on a GPU this runs in every forward pass and must not wait for the device. Empty
    rows are refused only for a mask on the CPU (tokenizers make them there), where checking costs no sync.
    """
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must be (batch, seq_len), got shape {tuple(attention_mask.shape)}")
    if attention_mask.device.type == "cpu" and not bool(attention_mask.sum(dim=1).gt(0).all()):
        raise ValueError("every row of attention_mask needs at least one real token")
    columns = torch.arange(attention_mask.shape[1], device=attention_mask.device)
    return (attention_mask.long() * columns).argmax(dim=1)  # the last 1: left, right or no padding


def last_token_pool(hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, L, H) hidden states and (B, L) mask -> (B, H) states at each row's last real token."""
    if hidden_states.shape[:2] != attention_mask.shape:
        raise ValueError(
            f"hidden_states {tuple(hidden_states.shape)} and attention_mask {tuple(attention_mask.shape)} "
            "disagree on (batch, seq_len)"
        )
    rows = torch.arange(hidden_states.shape[0], device=hidden_states.device)
    return hidden_states[rows, last_token_indices(attention_mask).to(hidden_states.device)]


def l2_normalize(embeddings: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Scale each row to unit length, so that a dot product is a cosine similarity."""
    return F.normalize(embeddings, p=2, dim=-1, eps=eps)
