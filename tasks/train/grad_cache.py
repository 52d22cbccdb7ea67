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

Padding-free: each side is sorted by length and cut by rows *and* padded tokens
(:mod:`tasks.train.mini_batches`); every mini-batch is trimmed to its own longest row and the
embeddings are put back in order, so a 20-token query is not run at a 500-token document's
width. Two forward passes are saved where they can be: Step 1 may run larger mini-batches
(``no_grad_scale``; it keeps no activations), and the last mini-batch of Step 1 keeps its graph,
which Step 3 backpropagates instead of embedding it again.

Mixed precision: pass ``autocast`` (a factory of autocast contexts), never wrap the whole step
in one autocast region. Each forward phase gets its own region: Step 1 (no grad), the kept
mini-batch, and every Step-3 mini-batch; the loss (Step 2) and the backward passes run outside
autocast, in float32. Autocast caches the low-precision copies of the trainable (LoRA) weights
until its outermost region exits; on torch builds without pytorch#165068 a copy cast under
``no_grad`` in Step 1 carries no autograd history and would be reused by Step 3, so the LoRA
weights would get no gradient at all (tests/train/test_autocast.py emulates that cache).

Step 3 must reproduce Step 1's embeddings exactly, so with dropout each mini-batch's RNG
state (CPU and the current CUDA device) is recorded in Step 1 and restored in Step 3: dropout
draws the same masks (and Step 1 keeps Step 3's mini-batches). Under DDP, wrap all but the last
Step-3 backward in ``model.no_sync()`` (not done here) to all-reduce gradients once.

Inputs: ``embed(batch) -> (b, H)`` maps a dict of tensors with b rows to embeddings;
``query_inputs`` has B rows, ``document_inputs`` B + B*k rows (the positives, then hard
negatives; see :mod:`tasks.train.info_nce`). With an ``attention_mask`` among the inputs,
rows are sorted and trimmed; without one, mini-batches are consecutive row slices.

>>> _ = torch.manual_seed(0)
>>> encoder = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Dropout(0.1), torch.nn.Linear(16, 4))
>>> queries, documents = {"x": torch.randn(6, 8)}, {"x": torch.randn(12, 8)}  # one hard negative each
>>> loss = grad_cache_step(lambda batch: encoder(batch["x"]), queries, documents, mini_batch_size=4)
>>> loss.requires_grad, encoder[0].weight.grad.shape
(False, torch.Size([16, 8]))
"""

from __future__ import annotations

from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Callable, Iterator

import torch

from tasks.train.info_nce import check_pair_layout, info_nce_loss
from tasks.train.mini_batches import Inputs, MiniBatch, in_order, plan_for, row_count, take

Embed = Callable[[dict[str, torch.Tensor]], torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Autocast = Callable[[], AbstractContextManager]  # e.g. partial(torch.autocast, "cuda", dtype=torch.bfloat16)


class RngState:
    """The CPU random state and the current CUDA device's, to replay a forward pass's dropout."""

    def __init__(self) -> None:
        self.cpu = torch.get_rng_state()
        # Only the device the model runs on: capturing all visible GPUs costs a sync on each.
        self.cuda_device = torch.cuda.current_device() if torch.cuda.is_initialized() else None
        self.cuda = torch.cuda.get_rng_state(self.cuda_device) if self.cuda_device is not None else None

    @contextmanager
    def replay(self) -> Iterator[None]:
        """Run the block from this state; the surrounding random state is left as it was."""
        devices = [self.cuda_device] if self.cuda_device is not None else []
        with torch.random.fork_rng(devices=devices):
            torch.set_rng_state(self.cpu)
            if self.cuda is not None:
                torch.cuda.set_rng_state(self.cuda, self.cuda_device)
            yield


def _checked(embed: Embed, inputs: Inputs, batch: MiniBatch) -> torch.Tensor:
    embeddings = embed(take(inputs, batch))
    if embeddings.dim() != 2 or embeddings.shape[0] != len(batch.rows):
        raise ValueError(f"embed must return (rows, hidden) embeddings, got {tuple(embeddings.shape)} "
                         f"for {len(batch.rows)} rows")
    return embeddings


def embed_without_grad(embed: Embed, inputs: Inputs, plan: list[MiniBatch], record_rng: bool = True,
                       autocast: Autocast = nullcontext) -> tuple[list[torch.Tensor], list[RngState | None]]:
    """Step 1: each mini-batch's (b, H) embeddings without autograd state, and the RNG state before it.

    One autocast region of its own, which no forward pass with grad shares (module docstring).
    """
    chunks, states = [], []
    with torch.no_grad(), autocast():
        for batch in plan:
            states.append(RngState() if record_rng else None)
            chunks.append(_checked(embed, inputs, batch))
    return chunks, states


def loss_and_embedding_grads(loss_fn: LossFn, q: torch.Tensor, d: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Step 2: the full-batch loss and its gradient w.r.t. the (B, H) and (B + B*k, H) embeddings."""
    q = q.detach().requires_grad_()
    d = d.detach().requires_grad_()
    loss = loss_fn(q, d)  # scalar; the encoder is not in this graph, so this is cheap
    grad_q, grad_d = torch.autograd.grad(loss, [q, d])
    return loss.detach(), grad_q, grad_d


def backward_through_embed(embed: Embed, inputs: Inputs, embedding_grads: torch.Tensor, plan: list[MiniBatch],
                           rng_states: list[RngState | None] | None, autocast: Autocast = nullcontext) -> None:
    """Step 3: re-embed each mini-batch with grad and backpropagate its rows of the cached (N, H) gradient.

    ``rng_states``: Step 1's state before each mini-batch, or None for a forward without dropout.
    Each forward pass runs in an autocast region of its own; the backward pass outside it.
    """
    for batch, state in zip(plan, rng_states or [None] * len(plan), strict=True):
        with state.replay() if state is not None else nullcontext(), autocast():  # Step 1's dropout masks
            embeddings = _checked(embed, inputs, batch)  # (b, H), now with a graph through the encoder
        grad = embedding_grads[torch.tensor(batch.rows, device=embedding_grads.device)]
        torch.autograd.backward(embeddings, grad_tensors=grad)  # accumulates into the parameters' .grad


def grad_cache_step(
    embed: Embed,
    query_inputs: Inputs,
    document_inputs: Inputs,
    mini_batch_size: int,
    loss_fn: LossFn = info_nce_loss,
    mini_batch_tokens: int | None = None,
    no_grad_scale: int = 1,
    autocast: Autocast = nullcontext,
) -> torch.Tensor:
    """Accumulate the parameter gradients of ``loss_fn`` over the full batch; return the loss (detached).

    Args:
        embed: maps a dict of (b, ...) tensors to (b, H) embeddings, e.g. ``lambda b: model(**b)``.
        query_inputs: B rows, e.g. ``{"input_ids": (B, L), "attention_mask": (B, L)}``.
        document_inputs: B + B*k rows: the B positives, then the hard negatives.
        mini_batch_size: most rows per forward pass with grad; memory follows it, the result does not.
        loss_fn: ``(q, d) -> scalar``; :func:`tasks.train.info_nce.global_info_nce_loss` for
            negatives from all workers.
        mini_batch_tokens: most padded tokens (rows × longest row) per forward pass with grad.
        no_grad_scale: Step 1 runs mini-batches this many times larger (it keeps no activations).
            Only for a forward pass without dropout: different batching draws different masks,
            so Step 3 could not replay them (:func:`has_dropout` tells).
        autocast: makes a fresh mixed-precision region, entered once per forward phase (module
            docstring); the loss and every backward pass run outside it. Default: none.

    The caller zeroes gradients before and steps the optimizer after, as with ``loss.backward()``.
    """
    if no_grad_scale < 1:
        raise ValueError(f"no_grad_scale must be >= 1, got {no_grad_scale}")
    check_pair_layout(row_count(query_inputs, "query_inputs"), row_count(document_inputs, "document_inputs"))
    q_plan = plan_for(query_inputs, mini_batch_size, mini_batch_tokens)
    d_plan = plan_for(document_inputs, mini_batch_size, mini_batch_tokens)
    if len(q_plan) == len(d_plan) == 1:  # it all fits one pass: the plain step, without the second forward
        with autocast():
            q = in_order([_checked(embed, query_inputs, q_plan[0])], q_plan)
            d = in_order([_checked(embed, document_inputs, d_plan[0])], d_plan)
        loss = loss_fn(q, d)
        loss.backward()
        return loss.detach()

    # Step 1: embeddings without activations, in larger mini-batches where replay allows. The last
    # Step-3 mini-batch is embedded once, with grad: Step 3 starts from the graph kept here.
    def step1_plan(inputs: Inputs, plan: list[MiniBatch]) -> list[MiniBatch]:
        if no_grad_scale == 1:
            return plan
        rows = [i for batch in plan for i in batch.rows]
        tokens = mini_batch_tokens * no_grad_scale if mini_batch_tokens else None
        return plan_for(inputs, mini_batch_size * no_grad_scale, tokens, rows=rows)

    record_rng = no_grad_scale == 1
    kept = d_plan[-1]
    q_plan_1, d_plan_1 = step1_plan(query_inputs, q_plan), step1_plan(document_inputs, d_plan[:-1])
    q_chunks, q_states = embed_without_grad(embed, query_inputs, q_plan_1, record_rng, autocast)
    d_chunks, d_states = embed_without_grad(embed, document_inputs, d_plan_1, record_rng, autocast)
    with autocast():  # a region of its own: never one that cast weights under no_grad
        kept_embeddings = _checked(embed, document_inputs, kept)  # (b, H) with its graph
    q = in_order(q_chunks, q_plan_1)  # (B, H)
    d = in_order(d_chunks + [kept_embeddings.detach()], d_plan_1 + [kept])  # (B + B*k, H)

    # Step 2: loss over the whole batch; grad_q: (B, H), grad_d: (B + B*k, H).
    loss, grad_q, grad_d = loss_and_embedding_grads(loss_fn, q, d)

    # Step 3: chain rule through the encoder, one mini-batch at a time; the kept graph first.
    torch.autograd.backward(kept_embeddings, grad_tensors=grad_d[torch.tensor(kept.rows, device=grad_d.device)])
    backward_through_embed(embed, document_inputs, grad_d, d_plan[:-1], d_states if record_rng else None, autocast)
    backward_through_embed(embed, query_inputs, grad_q, q_plan, q_states if record_rng else None, autocast)
    return loss


def has_dropout(module: torch.nn.Module) -> bool:
    """Whether ``module`` draws random numbers in its forward pass (a dropout layer with p > 0 in training mode,
    or an attention dropout in a Hugging Face config)."""
    if not module.training:
        return False
    for child in module.modules():
        if isinstance(child, torch.nn.modules.dropout._DropoutNd) and child.p > 0:
            return True
        config = getattr(child, "config", None)
        if config is not None and float(getattr(config, "attention_dropout", 0.0) or 0.0) > 0:
            return True
    return False
