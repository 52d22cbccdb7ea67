"""GradCache: a contrastive batch larger than memory allows, with the same loss and gradients.

Gao et al. 2021, "Scaling Deep Contrastive Learning Batch Size under Memory Limited Setup"
(arXiv:2101.06983); sentence-transformers' CachedMultipleNegativesRankingLoss. E5-mistral
trains with 2048 queries per contrastive batch (REFERENCE §3); gradient accumulation would
split that into small, separate contrastive problems with few negatives. GradCache keeps one
big problem: the loss needs only the embeddings, and the encoder's memory is spent one
mini-batch at a time.

* Step 1: embed every mini-batch without grad; keep only the embeddings.
* Step 2: make them leaf tensors, compute the full-batch loss, and cache d(loss)/d(embedding).
* Step 3: re-embed each mini-batch with grad and backpropagate the cached gradient slice
  (the chain rule); parameter gradients accumulate in ``.grad``.

The price is a second forward pass. Step 3 must reproduce Step 1's embeddings exactly, so
each mini-batch's RNG state (CPU and CUDA) is recorded in Step 1 and restored in Step 3:
dropout draws the same masks. Under DDP, wrap all but the last Step-3 backward in
``model.no_sync()`` (not done here) to all-reduce gradients once.

Inputs: ``embed(batch) -> (b, H)`` maps a dict of tensors with b rows to embeddings;
``query_inputs`` has B rows, ``document_inputs`` B + B*k rows (the positives, then hard
negatives; see :mod:`tasks.train.info_nce`).

>>> _ = torch.manual_seed(0)
>>> encoder = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Dropout(0.1), torch.nn.Linear(16, 4))
>>> queries, documents = {"x": torch.randn(6, 8)}, {"x": torch.randn(12, 8)}  # one hard negative each
>>> loss = grad_cache_step(lambda batch: encoder(batch["x"]), queries, documents, mini_batch_size=4)
>>> loss.requires_grad, encoder[0].weight.grad.shape
(False, torch.Size([16, 8]))
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator, Mapping

import torch

from tasks.train.info_nce import check_pair_layout, info_nce_loss

Inputs = Mapping[str, torch.Tensor]
Embed = Callable[[dict[str, torch.Tensor]], torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class RngState:
    """The CPU and CUDA random states at one moment, to replay a forward pass's dropout."""

    def __init__(self) -> None:
        self.cpu = torch.get_rng_state()
        # All CUDA devices: the model may sit on a device the inputs are not on yet.
        self.cuda = torch.cuda.get_rng_state_all() if torch.cuda.is_initialized() else None

    @contextmanager
    def replay(self) -> Iterator[None]:
        """Run the block from this state; the surrounding random state is left as it was."""
        devices = list(range(len(self.cuda))) if self.cuda is not None else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state_all(self.cuda)
            yield


def rows_of(inputs: Inputs, name: str) -> int:
    """The number of rows shared by every tensor in ``inputs``."""
    if not inputs:
        raise ValueError(f"{name} is empty")
    sizes = {key: value.shape[0] for key, value in inputs.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"{name} tensors disagree on the batch size: {sizes}")
    return next(iter(sizes.values()))


def mini_batches(inputs: Inputs, mini_batch_size: int) -> list[dict[str, torch.Tensor]]:
    """Consecutive row slices of ``inputs``; the last may be smaller."""
    total = rows_of(inputs, "inputs")
    return [{key: value[start:start + mini_batch_size] for key, value in inputs.items()}
            for start in range(0, total, mini_batch_size)]


def embed_without_grad(embed: Embed, inputs: Inputs, mini_batch_size: int) -> tuple[torch.Tensor, list[RngState]]:
    """Step 1: (N rows of inputs) -> (N, H) embeddings, plus the RNG state before each mini-batch."""
    chunks, states = [], []
    with torch.no_grad():
        for batch in mini_batches(inputs, mini_batch_size):
            states.append(RngState())
            chunks.append(_checked(embed, batch))  # (b, H), b <= mini_batch_size
    return torch.cat(chunks), states


def _checked(embed: Embed, batch: Inputs) -> torch.Tensor:
    embeddings = embed(dict(batch))
    if embeddings.dim() != 2 or embeddings.shape[0] != rows_of(batch, "mini-batch"):
        raise ValueError(f"embed must return (rows, hidden) embeddings, got {tuple(embeddings.shape)} "
                         f"for {rows_of(batch, 'mini-batch')} rows")
    return embeddings


def loss_and_embedding_grads(loss_fn: LossFn, q: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Step 2: the full-batch loss and its gradient w.r.t. the (B, H) and (B + B*k, H) embeddings."""
    q = q.detach().requires_grad_()
    d = d.detach().requires_grad_()
    loss = loss_fn(q, d)  # scalar; the encoder is not in this graph, so this is cheap
    grad_q, grad_d = torch.autograd.grad(loss, [q, d])
    return loss.detach(), grad_q, grad_d


def backward_through_embed(embed: Embed, inputs: Inputs, embedding_grads: torch.Tensor,
                           rng_states: list[RngState], mini_batch_size: int) -> None:
    """Step 3: re-embed each mini-batch with grad and backpropagate its slice of the cached (N, H) gradient."""
    for batch, grad, state in zip(mini_batches(inputs, mini_batch_size), embedding_grads.split(mini_batch_size),
                                  rng_states, strict=True):
        with state.replay():  # the same dropout masks as in Step 1
            embeddings = embed(batch)  # (b, H), now with a graph through the encoder
        torch.autograd.backward(embeddings, grad_tensors=grad)  # accumulates into the parameters' .grad


def grad_cache_step(
    embed: Embed,
    query_inputs: Inputs,
    document_inputs: Inputs,
    mini_batch_size: int,
    loss_fn: LossFn = info_nce_loss,
) -> torch.Tensor:
    """Accumulate the parameter gradients of ``loss_fn`` over the full batch; return the loss (detached).

    Args:
        embed: maps a dict of (b, ...) tensors to (b, H) embeddings, e.g. ``lambda b: model(**b)``.
        query_inputs: B rows, e.g. ``{"input_ids": (B, L), "attention_mask": (B, L)}``.
        document_inputs: B + B*k rows: the B positives, then the hard negatives.
        mini_batch_size: rows per forward pass; memory scales with it, the result does not.
        loss_fn: ``(q, d) -> scalar``; :func:`tasks.train.info_nce.global_info_nce_loss` for
            negatives from all workers.

    The caller zeroes gradients before and steps the optimizer after, as with ``loss.backward()``.
    """
    if mini_batch_size < 1:
        raise ValueError(f"mini_batch_size must be >= 1, got {mini_batch_size}")
    rows = (rows_of(query_inputs, "query_inputs"), rows_of(document_inputs, "document_inputs"))
    check_pair_layout(*rows)
    if max(rows) <= mini_batch_size:  # it all fits one pass: the plain step, without the second forward
        q, d = _checked(embed, query_inputs), _checked(embed, document_inputs)
        loss = loss_fn(q, d)
        loss.backward()
        return loss.detach()

    # Step 1: embeddings without activations. q: (B, H), d: (B + B*k, H).
    q, q_states = embed_without_grad(embed, query_inputs, mini_batch_size)
    d, d_states = embed_without_grad(embed, document_inputs, mini_batch_size)

    # Step 2: loss over the whole batch; grad_q: (B, H), grad_d: (B + B*k, H).
    loss, grad_q, grad_d = loss_and_embedding_grads(loss_fn, q, d)

    # Step 3: chain rule through the encoder, one mini-batch at a time.
    backward_through_embed(embed, query_inputs, grad_q, q_states, mini_batch_size)
    backward_through_embed(embed, document_inputs, grad_d, d_states, mini_batch_size)
    return loss
