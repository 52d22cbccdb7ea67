"""Mini-batches cut by length: rows sorted longest first, bounded by rows and tokens, trimmed.

A contrastive batch mixes 20-token queries with 500-token documents. Padding every text to the
longest in the batch, then slicing rows, spends most of the compute on padding. Here each side
of the batch is sorted by length, cut into mini-batches of at most ``max_rows`` rows and
``max_tokens`` padded tokens (rows × the mini-batch's longest row), and each mini-batch is
trimmed to its own longest row. Longest first, so a batch that does not fit in memory fails on
its first forward pass, not its last. The embeddings go back into the caller's order
(:func:`embed_in_order`).

>>> plan = plan_mini_batches([5, 30, 7, 28, 6], max_rows=2)
>>> [(b.rows, b.width) for b in plan]
[([1, 3], 30), ([2, 4], 7), ([0], 5)]
>>> [(b.rows, b.width) for b in plan_mini_batches([5, 30, 7, 28, 6], max_rows=8, max_tokens=60)]
[([1, 3], 30), ([2, 4, 0], 7)]

Inputs without an ``attention_mask`` (plain feature tensors) have no lengths: they are cut
into consecutive row slices, in order, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import torch

Inputs = Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class MiniBatch:
    """Row indices into the full inputs (longest first) and the padded width they need."""

    rows: list[int]
    width: int | None  # None: inputs without an attention mask are not trimmed

    @property
    def padded_tokens(self) -> int:
        return len(self.rows) * (self.width or 1)


def row_count(inputs: Inputs, name: str) -> int:
    """The number of rows shared by every tensor in ``inputs``."""
    if not inputs:
        raise ValueError(f"{name} is empty")
    sizes = {key: value.shape[0] for key, value in inputs.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"{name} tensors disagree on the batch size: {sizes}")
    return next(iter(sizes.values()))


def row_lengths(inputs: Inputs) -> list[int] | None:
    """Real tokens per row (the attention mask's sum), or None for inputs without a mask."""
    mask = inputs.get("attention_mask")
    return None if mask is None else mask.sum(dim=1).tolist()


def plan_mini_batches(lengths: Sequence[int], max_rows: int, max_tokens: int | None = None,
                      rows: Sequence[int] | None = None) -> list[MiniBatch]:
    """Cut ``rows`` (default: all) into mini-batches, longest first.

    A mini-batch closes when it has ``max_rows`` rows or one more row would take it past
    ``max_tokens`` padded tokens; a single row longer than the budget gets a mini-batch of its
    own. Ties keep the rows' order, so the plan is a pure function of the lengths.
    """
    if max_rows < 1:
        raise ValueError(f"mini_batch_size must be >= 1, got {max_rows}")
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"mini_batch_tokens must be >= 1, got {max_tokens}")
    rows = list(range(len(lengths))) if rows is None else list(rows)
    order = sorted(rows, key=lambda i: -lengths[i])  # sorted() is stable: ties stay in order
    plan: list[MiniBatch] = []
    current: list[int] = []
    for i in order:
        width = lengths[current[0]] if current else lengths[i]
        full = len(current) == max_rows or (max_tokens is not None and (len(current) + 1) * width > max_tokens)
        if current and full:
            plan.append(MiniBatch(current, lengths[current[0]]))
            current = []
        current.append(i)
    if current:
        plan.append(MiniBatch(current, lengths[current[0]]))
    return plan


def plan_for(inputs: Inputs, max_rows: int, max_tokens: int | None = None,
             rows: Sequence[int] | None = None) -> list[MiniBatch]:
    """:func:`plan_mini_batches` for token inputs; consecutive slices for inputs without a mask."""
    lengths = row_lengths(inputs)
    if lengths is not None:
        return plan_mini_batches(lengths, max_rows, max_tokens, rows)
    if max_rows < 1:
        raise ValueError(f"mini_batch_size must be >= 1, got {max_rows}")
    rows = list(range(row_count(inputs, "inputs"))) if rows is None else list(rows)
    return [MiniBatch(rows[start:start + max_rows], None) for start in range(0, len(rows), max_rows)]


def take(inputs: Inputs, batch: MiniBatch) -> dict[str, torch.Tensor]:
    """The mini-batch's rows of every tensor, token tensors trimmed to the columns any row uses.

    Works for left and right padding: the kept columns are those where some row's mask is 1.
    """
    index = torch.tensor(batch.rows, dtype=torch.long)
    picked = {key: value.index_select(0, index.to(value.device)) for key, value in inputs.items()}
    mask = picked.get("attention_mask")
    if mask is None:
        return picked
    used = mask.any(dim=0).nonzero()
    first, last = int(used.min()), int(used.max()) + 1
    seq_len = mask.shape[1]
    return {key: value[:, first:last] if value.dim() >= 2 and value.shape[1] == seq_len else value
            for key, value in picked.items()}


def in_order(chunks: list[torch.Tensor], plan: list[MiniBatch]) -> torch.Tensor:
    """Concatenate per-mini-batch embeddings and put the rows back in the inputs' order."""
    rows = torch.tensor([i for batch in plan for i in batch.rows], dtype=torch.long)
    stacked = torch.cat(chunks)
    return stacked[torch.argsort(rows).to(stacked.device)]


def embed_in_order(embed: Callable[[dict[str, torch.Tensor]], torch.Tensor], inputs: Inputs,
                   plan: list[MiniBatch]) -> torch.Tensor:
    """Embed every mini-batch of ``plan``; (N, H) embeddings in the inputs' row order."""
    return in_order([embed(take(inputs, batch)) for batch in plan], plan)
