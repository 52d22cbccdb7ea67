"""InfoNCE over cosine similarities with in-batch and hard negatives (the E5-mistral loss).

Wang et al. 2024, "Improving Text Embeddings with Large Language Models" (arXiv:2401.00368),
§3.2: for a query q+ with positive d+ and a set of negatives N,

    loss = -log( exp(cos(q+, d+) / τ) / Σ_{n ∈ {d+} ∪ N} exp(cos(q+, n) / τ) ),   τ = 0.02,

where N is every other document in the batch (the other queries' positives and all hard
negatives). With a batch laid out as below this is a cross-entropy whose target for query i
is column i (van den Oord et al. 2018, "Representation Learning with Contrastive Predictive
Coding"; sentence-transformers' MultipleNegativesRankingLoss).

Inputs: ``q`` (B, H) query embeddings and ``d`` (B + B*k, H) document embeddings, where
``d[i]`` for i < B is the positive of query i and the remaining B*k rows are hard negatives,
in any order (every query scores against every document, so their order does not matter).
Embeddings are L2-normalised here, so a dot product is a cosine similarity.

>>> _ = torch.manual_seed(0)
>>> q, d = torch.randn(4, 8), torch.randn(4 + 4, 8)  # 4 queries, 4 positives, 4 hard negatives
>>> info_nce_loss(q, d).shape, bool(info_nce_loss(q, d) > 0)
(torch.Size([]), True)
>>> bool(info_nce_loss(d[:4], d) < 1e-3)  # each query equals its positive: the loss vanishes
True

:func:`global_info_nce_loss` is the same loss over the batch of all workers (REFERENCE §3:
"negatives gathered across workers").

**False-negative masking** (``false_negative_margin``, default None = off): an in-batch or hard
negative n of query i is left out of its denominator (score -inf) when, by the model's own
cosines, ``cos(q_i, n) > cos(q_i, d_i+) - margin``. The sign follows sentence-transformers'
GISTEmbedLoss (``margin_strategy="absolute"``) and NV-Retriever's TopK-MarginPos mining
(Moreira et al. 2024, arXiv:2407.15831), but with the model being trained as its own guide:

* ``margin = 0``: mask negatives that score above the positive;
* ``margin = 0.05``: also mask those within 0.05 below it (as TopK-MarginPos with 0.05);
* ``margin < 0``: mask only negatives that beat the positive by more than ``-margin``.

The positive column is never masked. The mask is a comparison, so no gradient flows through
it; a masked term contributes exactly nothing, as if its column were absent from that row:

>>> q = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
>>> d = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [-1.0, 0.0]])  # q0's hard negative copies its positive
>>> round(info_nce_loss(q, d).item(), 4), round(info_nce_loss(q, d, false_negative_margin=0.05).item(), 4)
(0.3466, 0.0)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F

from tasks.train.gather import gather_with_grad
from tasks.train.pooling import l2_normalize

DEFAULT_TEMPERATURE = 0.02  # τ, fixed in the paper (§3.2; REFERENCE §3)


def check_pair_layout(num_queries: int, num_documents: int) -> int:
    """Validate the (B queries, B + B*k documents) layout; return k, the hard negatives per query."""
    if num_queries < 1:
        raise ValueError("need at least one query")
    if num_documents < num_queries or num_documents % num_queries:
        raise ValueError(
            f"documents must be the {num_queries} positives followed by k * {num_queries} hard negatives, "
            f"got {num_documents} documents for {num_queries} queries"
        )
    return num_documents // num_queries - 1


def check_false_negative_margin(margin: float | None) -> None:
    """None (off) or a finite margin in cosine units, -1 … 1."""
    if margin is not None and not (math.isfinite(margin) and -1 <= margin <= 1):
        raise ValueError(f"false_negative_margin must be None (off) or between -1 and 1 (cosine units), got {margin}")


def _check_inputs(q: torch.Tensor, d: torch.Tensor, temperature: float, false_negative_margin: float | None) -> None:
    if q.dim() != 2 or d.dim() != 2 or q.shape[1] != d.shape[1]:
        raise ValueError(f"q and d must be (batch, hidden) with the same hidden size, got {tuple(q.shape)} and "
                         f"{tuple(d.shape)}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    check_false_negative_margin(false_negative_margin)
    check_pair_layout(q.shape[0], d.shape[0])


def _at_least_float32(x: torch.Tensor) -> torch.Tensor:
    return x.float() if x.dtype in (torch.float16, torch.bfloat16) else x


def mask_false_negatives(cosines: torch.Tensor, scores: torch.Tensor, margin: float) -> torch.Tensor:
    """``scores`` (B, D) with -inf where a negative's cosine exceeds the row's positive cosine - margin.

    Column i is row i's positive (the layout above) and is never masked.
    """
    rows = torch.arange(cosines.shape[0], device=cosines.device)
    positive = cosines[rows, rows].unsqueeze(1)  # (B, 1) cos(q_i, d_i+)
    masked = cosines > positive - margin  # (B, D)
    masked[rows, rows] = False
    return scores.masked_fill(masked, float("-inf"))


def info_nce_loss(q: torch.Tensor, d: torch.Tensor, temperature: float = DEFAULT_TEMPERATURE,
                  false_negative_margin: float | None = None) -> torch.Tensor:
    """Mean InfoNCE of B queries (B, H) against B positives + B*k hard negatives (B + B*k, H),
    optionally masking likely false negatives (see the module docstring)."""
    _check_inputs(q, d, temperature, false_negative_margin)
    # At τ = 0.02 the logits reach ±50: compute them in at least float32, even under autocast.
    with torch.autocast(device_type=q.device.type, enabled=False):
        q, d = _at_least_float32(q), _at_least_float32(d)
        cosines = l2_normalize(q) @ l2_normalize(d).T  # (B, B + B*k)
        scores = cosines / temperature
        if false_negative_margin is not None:
            scores = mask_false_negatives(cosines.detach(), scores, false_negative_margin)
    targets = torch.arange(q.shape[0], device=q.device)  # query i's positive is column i
    return F.cross_entropy(scores, targets)


def global_info_nce_loss(
    q: torch.Tensor,
    d: torch.Tensor,
    temperature: float = DEFAULT_TEMPERATURE,
    all_gather: Callable[[torch.Tensor], torch.Tensor] = gather_with_grad,
    false_negative_margin: float | None = None,
) -> torch.Tensor:
    """InfoNCE over the union of all workers' batches; each worker passes its local ``q``, ``d``.

    Every worker holds B queries and B + B*k documents in the layout of :func:`info_nce_loss`.
    The gathered batch puts all positives first, in rank order, then all hard negatives, so
    local query i of rank r is global query ``r*B + i`` and its target (positive) is column
    ``r*B + i`` (the rank*B offset).

    ``all_gather`` copies the other workers' rows without a graph (:func:`gather_with_grad`),
    so gradients reach only this worker's own embeddings. A document of rank r is also a
    negative for every other rank's queries; for those terms to reach it, each worker scores
    *all* gathered queries, not only its own ((W*B) x (W*B*(1+k)) scores cost little next to the
    model). Hence:

    * the value is the mean over all W*B queries: the single-process loss of the union batch,
      the same on every worker;
    * ``backward()`` gives each worker's local embeddings exactly their slice of the
      single-process gradient;
    * the parameter gradient of the union batch is the *sum* over workers of what each
      backward produces. DDP *averages* gradients over the W workers, so under DDP backpropagate
      ``loss * world_size`` (Tevatron does the same) and log ``loss``.

    The default ``all_gather`` is the identity in a single process, where this equals
    :func:`info_nce_loss`. ``false_negative_margin`` masks over the gathered batch, so a
    worker's queries are also guarded against the other workers' documents.
    """
    _check_inputs(q, d, temperature, false_negative_margin)
    batch = q.shape[0]
    all_q = all_gather(q)  # (W*B, H)
    all_positives = all_gather(d[:batch])  # (W*B, H), row r*B + i = positive of rank r's query i
    documents = [all_positives]
    if d.shape[0] > batch:
        documents.append(all_gather(d[batch:]))  # (W*B*k, H) hard negatives
    return info_nce_loss(all_q, torch.cat(documents, dim=0), temperature, false_negative_margin)
