"""False-negative masking inside GradCache: Step 2 masks from the cached embeddings, and the
step still equals the plain full-batch step of the same masked loss."""

from __future__ import annotations

from functools import partial

import pytest
import torch

from tasks.train.grad_cache import grad_cache_step
from tasks.train.info_nce import global_info_nce_loss

# 6 queries, 6 positives, 6 hard negatives; query 0's hard negative is a copy of its positive.
_generator = torch.Generator().manual_seed(0)
QUERIES = {"x": torch.randn(6, 8, generator=_generator, dtype=torch.float64)}
DOCUMENTS = {"x": torch.randn(12, 8, generator=_generator, dtype=torch.float64)}
DOCUMENTS["x"][6] = DOCUMENTS["x"][0]


def _step(loss_fn, use_grad_cache: bool) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """(loss, parameter gradients) of one step of a fixed MLP encoder."""
    torch.manual_seed(0)
    mlp = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.Tanh(), torch.nn.Linear(16, 6)).double()

    def embed(batch: dict) -> torch.Tensor:
        return mlp(batch["x"])

    if use_grad_cache:
        loss = grad_cache_step(embed, QUERIES, DOCUMENTS, 2, loss_fn)  # 2 rows per pass: 3 + 6 passes
    else:
        loss = loss_fn(embed(QUERIES), embed(DOCUMENTS))
        loss.backward()
    return loss.detach(), [p.grad.clone() for p in mlp.parameters()]


@pytest.mark.parametrize("margin", [None, 0.01, 0.3])
def test_grad_cache_with_masking_equals_the_plain_masked_step(margin):
    loss_fn = partial(global_info_nce_loss, temperature=0.02, false_negative_margin=margin)
    (cached, cached_grads), (plain, plain_grads) = _step(loss_fn, True), _step(loss_fn, False)
    torch.testing.assert_close(cached, plain)
    for a, b in zip(cached_grads, plain_grads, strict=True):
        torch.testing.assert_close(a, b)
    unmasked, _ = _step(partial(global_info_nce_loss, temperature=0.02), False)
    assert (plain < unmasked) if margin is not None else torch.equal(plain, unmasked)  # the copy was masked
