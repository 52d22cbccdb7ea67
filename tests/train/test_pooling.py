"""Last-token pooling picks each row's last real token (its EOS) under left and right padding."""

from __future__ import annotations

import pytest
import torch

from tasks.train.pooling import l2_normalize, last_token_indices, last_token_pool

LENGTHS = [3, 5, 1, 4]  # real tokens per row; the longest fills the row


def _mask(lengths: list[int], padding_side: str) -> torch.Tensor:
    columns, n = torch.arange(max(lengths)), torch.tensor(lengths).unsqueeze(1)
    real = columns >= max(lengths) - n if padding_side == "left" else columns < n
    return real.long()


def _position_coded_states(batch: int, seq_len: int, hidden: int = 3) -> torch.Tensor:
    # hidden_states[b, l, :] == 100 * b + l, so the pooled value says which (row, column) was read.
    codes = 100 * torch.arange(batch).view(-1, 1) + torch.arange(seq_len).view(1, -1)
    return codes.unsqueeze(-1).expand(batch, seq_len, hidden).float()


@pytest.mark.parametrize("padding_side, expected_columns", [("right", [2, 4, 0, 3]), ("left", [4, 4, 4, 4])])
def test_pool_reads_the_last_real_token_of_each_row(padding_side, expected_columns):
    mask = _mask(LENGTHS, padding_side)
    states = _position_coded_states(len(LENGTHS), max(LENGTHS))

    pooled = last_token_pool(states, mask)

    expected = [100 * row + col for row, col in enumerate(expected_columns)]
    assert pooled.shape == (len(LENGTHS), 3)
    assert pooled[:, 0].tolist() == expected and bool((pooled == pooled[:, :1]).all())
    # The picked column is the last 1 of the mask, whatever the padding side.
    assert all(mask[row, col] == 1 and mask[row, col + 1:].sum() == 0 for row, col in enumerate(expected_columns))


def test_unpadded_batch_reads_the_last_column():
    mask = torch.ones(2, 4, dtype=torch.long)
    assert last_token_indices(mask).tolist() == [3, 3]


def test_bool_mask_works_like_an_integer_mask():
    mask = _mask(LENGTHS, "right")
    assert torch.equal(last_token_indices(mask.bool()), last_token_indices(mask))


@pytest.mark.parametrize("states, mask, message", [
    (torch.zeros(2, 3, 4), torch.ones(2, 4), "disagree"),
    (torch.zeros(2, 3, 4), torch.tensor([[1, 1, 0], [0, 0, 0]]), "at least one real token"),
    (torch.zeros(2, 3, 4), torch.ones(2, 3, 1), r"\(batch, seq_len\)"),
])
def test_bad_shapes_and_empty_rows_are_rejected(states, mask, message):
    with pytest.raises(ValueError, match=message):
        last_token_pool(states, mask)


def test_l2_normalize_gives_unit_rows_and_keeps_directions():
    x = torch.tensor([[3.0, 4.0], [0.0, -2.0]])
    assert torch.allclose(l2_normalize(x), torch.tensor([[0.6, 0.8], [0.0, -1.0]]))


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_pooling_reads_nothing_back_to_the_host(padding_side):
    # A host sync (bool(), .item()) on every forward pass stalls the GPU. Meta tensors have no
    # values to read back: any sync raises, so pooling on them proves it takes none.
    mask = _mask(LENGTHS, padding_side).to("meta")
    pooled = last_token_pool(torch.empty(len(LENGTHS), max(LENGTHS), 3, device="meta"), mask)
    assert pooled.shape == (len(LENGTHS), 3) and pooled.device.type == "meta"
