"""Every tokenized row really ends with EOS, where last-token pooling will read it."""

from __future__ import annotations

import pytest
import torch

from tasks.train.text import format_query, tokenize_with_eos
from tests.train.tiny import make_tokenizer

TEXTS = [
    format_query("Given a web search query, retrieve relevant passages", "capital of Peru"),
    "Lima is the capital and largest city of Peru.",
    "fox",
    "",
]


def test_query_format_matches_the_paper_and_documents_stay_bare():
    assert format_query("Retrieve passages", "capital of Peru") == "Instruct: Retrieve passages\nQuery: capital of Peru"


def test_the_tiny_tokenizer_adds_no_eos_by_itself(tokenizer):
    # The premise (as with SmolLM2 under transformers 5): appending EOS is our job.
    assert tokenizer.eos_token_id not in tokenizer(TEXTS[1])["input_ids"]


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_each_row_is_the_text_then_one_eos_then_padding(tokenizer, padding_side):
    batch = tokenize_with_eos(tokenizer, TEXTS, max_length=64, padding_side=padding_side)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id

    assert ids.dtype == mask.dtype == torch.long and ids.shape == mask.shape
    for row, text in enumerate(TEXTS):
        real, padding = ids[row][mask[row].bool()].tolist(), ids[row][~mask[row].bool()].tolist()
        assert real == tokenizer(text)["input_ids"] + [eos]
        assert set(padding) <= {pad}
        # Padding sits on the requested side: the real tokens are one contiguous run at that end.
        end = mask.shape[1] if padding_side == "left" else len(real)
        assert mask[row, end - len(real):end].all() and mask[row].sum() == len(real)
        assert ids[row, end - 1] == eos  # the column last_token_pool reads


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_long_texts_are_cut_before_the_eos(tokenizer, padding_side):
    long_text = " ".join(["the quick brown fox jumps over the lazy dog"] * 20)
    batch = tokenize_with_eos(tokenizer, [long_text, "fox"], max_length=8, padding_side=padding_side)
    assert batch["input_ids"].shape == (2, 8)
    assert batch["input_ids"][0].tolist() == tokenizer(long_text)["input_ids"][:7] + [tokenizer.eos_token_id]


def test_a_tokenizer_that_still_appends_eos_gets_exactly_one():
    tok = make_tokenizer(appends_eos=True)
    assert tok("fox")["input_ids"][-1] == tok.eos_token_id
    ids = tokenize_with_eos(tok, ["fox", "the lazy dog"], max_length=32, padding_side="right")["input_ids"]
    assert [row.tolist().count(tok.eos_token_id) for row in ids] == [1, 1]


@pytest.mark.parametrize("padding_side", ["left", "right"])
def test_without_a_pad_token_rows_are_padded_with_eos(padding_side):
    tok = make_tokenizer(pad=False)
    assert tok.pad_token_id is None
    batch = tokenize_with_eos(tok, ["fox", "Lima is the capital of Peru."], max_length=32, padding_side=padding_side)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert mask[0].sum() == len(tok("fox")["input_ids"]) + 1 < ids.shape[1]
    assert bool((ids[~mask.bool()] == tok.eos_token_id).all())


@pytest.mark.parametrize("kwargs, message", [
    ({"max_length": 1}, "max_length must be >= 2"),
    ({"padding_side": "middle"}, "padding_side"),
    ({"texts": []}, "texts is empty"),
])
def test_bad_arguments_are_rejected(tokenizer, kwargs, message):
    arguments = {"texts": ["fox"], "max_length": 16, "padding_side": "left"} | kwargs
    with pytest.raises(ValueError, match=message):
        tokenize_with_eos(tokenizer, **arguments)


def test_a_tokenizer_without_eos_is_rejected():
    with pytest.raises(ValueError, match="has no eos_token"):
        tokenize_with_eos(make_tokenizer(eos=False), ["fox"], max_length=16)
