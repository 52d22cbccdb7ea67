"""Passkey retrieval: well-formed documents, a scorer that an exact matcher aces and chance fails,
and a RoPE base override that really reaches the loaded model's rotary frequencies."""

from __future__ import annotations

import re
import zlib
from collections import Counter

import numpy as np
import pytest
import torch
from transformers import AutoModel, Gemma3TextConfig, LlamaConfig, Qwen2Config

from tasks.evaluate.passkey import (
    DEFAULT_LENGTHS,
    FIRST_NAMES,
    PASSKEY_TASK,
    generate_passkey_documents,
    passkey_accuracy,
    passkey_query,
    rope_thetas,
    run_passkey,
    sample_queries,
    set_rope_theta,
    token_counter,
)
from tasks.train.text import format_query
from tests.train.tiny import make_tokenizer

PASSKEY_SENTENCE = re.compile(r"(\w+(?: \w+)?)'s pass key is (\d+)\. Remember it\. (\d+) is the pass key of (\w+(?: \w+)?)\.")
HASH_DIM = 1 << 16


@pytest.fixture(scope="module")
def tokenizer():
    return make_tokenizer()


def exact_match_embed(texts: list[str]) -> np.ndarray:
    """A model that only matches exact strings: hashed word counts (lowercase words and numbers).

    The filler is the same in every document, so only the name (and passkey) words can lift
    the right document above the others.
    """
    vectors = np.zeros((len(texts), HASH_DIM))
    for row, text in enumerate(texts):
        for word, n in Counter(re.findall(r"[a-z0-9]+", text.lower())).items():
            vectors[row, zlib.crc32(word.encode()) % HASH_DIM] += n
    return vectors


def random_embed(texts: list[str]) -> torch.Tensor:
    """A model that knows nothing: a fixed random vector per text (seeded by the text itself)."""
    return torch.stack([torch.randn(32, generator=torch.Generator().manual_seed(zlib.crc32(t.encode())))
                        for t in texts])


# --- documents -------------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [256, 1024, 4096])
def test_every_document_hides_exactly_one_passkey_sentence_for_its_own_person(length):
    docs = generate_passkey_documents(100, length, None, seed=1)
    for doc in docs:
        matches = PASSKEY_SENTENCE.findall(doc.text)
        assert matches == [(doc.name, doc.passkey, doc.passkey, doc.name)]
        assert re.fullmatch(r"[1-9]\d{4}", doc.passkey)
        assert doc.text.count(doc.passkey) == 2 and doc.text.count("pass key") == 2
    assert len({doc.name for doc in docs}) == 100
    assert len({doc.passkey for doc in docs}) == 100


def test_positions_are_spread_over_the_whole_document():
    docs = generate_passkey_documents(100, 2048, None, seed=0)
    fractions = np.array([doc.position_fraction for doc in docs])
    assert fractions.min() < 0.1 and fractions.max() > 0.9
    assert 0.35 < fractions.mean() < 0.65  # uniform: mean 0.5
    for doc in docs:  # the fraction says where the sentence really is
        assert abs(doc.text.index(f"{doc.name}'s pass key") / len(doc.text) - doc.position_fraction) < 0.02


@pytest.mark.parametrize("counter", ["words", "tokenizer"])
@pytest.mark.parametrize("length", DEFAULT_LENGTHS)
def test_documents_have_the_requested_length_within_ten_percent(length, counter, tokenizer):
    measure = tokenizer if counter == "tokenizer" else None
    count = token_counter(measure)
    sizes = [count(doc.text) for doc in generate_passkey_documents(20, length, measure, seed=0)]
    assert all(abs(size - length) <= 0.1 * length for size in sizes), (min(sizes), max(sizes))


def test_the_tokenizer_counts_tokens_not_words(tokenizer):
    text = generate_passkey_documents(1, 512, tokenizer, seed=0)[0].text
    assert len(text.split()) < 0.8 * len(tokenizer(text)["input_ids"])  # a tiny BPE splits the words


def test_more_documents_than_first_names_get_full_names():
    docs = generate_passkey_documents(len(FIRST_NAMES) + 10, 256, None, seed=0)
    assert len({doc.name for doc in docs}) == len(docs)
    assert all(" " in doc.name for doc in docs)
    assert all(len(PASSKEY_SENTENCE.findall(doc.text)) == 1 for doc in docs)


def test_too_short_a_context_is_refused():
    with pytest.raises(ValueError, match="no room for filler"):
        generate_passkey_documents(5, 10, None, seed=0)


def test_the_same_seed_gives_the_same_documents_and_accuracy():
    first, again = (generate_passkey_documents(100, 512, None, seed=7) for _ in range(2))
    assert first == again
    assert generate_passkey_documents(100, 512, None, seed=8) != first
    assert passkey_accuracy(random_embed, random_embed, first) == passkey_accuracy(random_embed, random_embed, again)
    assert sample_queries(first, 50, seed=3) == sample_queries(again, 50, seed=3)


# --- scoring ---------------------------------------------------------------------------------------

def test_the_query_asks_for_the_persons_pass_key_under_the_task_instruction():
    assert passkey_query("Ivy") == format_query(PASSKEY_TASK, "what is Ivy's pass key?")


def test_an_exact_string_matcher_solves_every_length():
    rows = run_passkey(exact_match_embed, exact_match_embed, None, seed=0)
    assert [row["length"] for row in rows] == list(DEFAULT_LENGTHS)
    assert all(row["accuracy"] == 1.0 and row["n_docs"] == 100 and row["n_queries"] == 50 for row in rows)


def test_an_exact_string_matcher_solves_it_with_a_real_tokenizer_too(tokenizer):
    [row] = run_passkey(exact_match_embed, exact_match_embed, tokenizer, lengths=(1024,))
    assert row["accuracy"] == 1.0


def test_a_random_embedder_scores_near_chance():
    docs = generate_passkey_documents(100, 256, None, seed=0)
    assert passkey_accuracy(random_embed, random_embed, docs) < 0.1


def test_accuracy_counts_the_queries_whose_own_document_ranks_first():
    # Given three documents and an embedder under which every query is closest to document 0
    # (then 1, then 2), when all three people are asked about, then only the query for
    # document 0's person is right.
    docs = generate_passkey_documents(3, 256, None, seed=0)
    doc_vectors = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0]])

    def embed_documents(texts):
        return doc_vectors[[next(i for i, doc in enumerate(docs) if doc.text == text) for text in texts]]

    def embed_queries(texts):
        return np.tile([1.0, 0.1], (len(texts), 1))  # unnormalised on purpose

    assert passkey_accuracy(embed_queries, embed_documents, docs, n_queries=3) == pytest.approx(1 / 3)
    for seed in range(5):  # two of three people: right iff document 0's person was drawn
        drawn = sample_queries(docs, 2, seed)
        assert passkey_accuracy(embed_queries, embed_documents, docs, n_queries=2, seed=seed) == (0 in drawn) / 2


def test_accuracy_is_the_share_of_people_found():
    # A "model" that finds the first two people but mistakes the third for the first.
    docs = generate_passkey_documents(3, 256, None, seed=0)
    found = {docs[0].name: 0, docs[1].name: 1, docs[2].name: 0}

    def embed_queries(texts):
        return np.eye(3)[[found[next(d.name for d in docs if passkey_query(d.name) == t)] for t in texts]]

    def embed_documents(texts):
        return np.eye(3)[[next(i for i, d in enumerate(docs) if d.text == t) for t in texts]]

    assert passkey_accuracy(embed_queries, embed_documents, docs, n_queries=3) == pytest.approx(2 / 3)


def test_a_tie_is_a_miss():
    docs = generate_passkey_documents(10, 256, None, seed=0)
    constant = lambda texts: np.ones((len(texts), 4))  # noqa: E731 - cannot tell documents apart
    assert passkey_accuracy(constant, constant, docs, n_queries=10) == 0.0


def test_bad_embedder_shapes_and_query_counts_are_rejected():
    docs = generate_passkey_documents(3, 256, None, seed=0)
    with pytest.raises(ValueError, match="returned shape"):
        passkey_accuracy(exact_match_embed, lambda texts: np.ones((1, 4)), docs, n_queries=2)
    with pytest.raises(ValueError, match="n_queries"):
        passkey_accuracy(exact_match_embed, exact_match_embed, docs, n_queries=4)


# --- RoPE base -------------------------------------------------------------------------------------

TINY = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2,
            vocab_size=400)  # head_dim 8


def _inv_freq(base: float, dim: int = 8) -> torch.Tensor:
    return 1.0 / (base ** (torch.arange(0, dim, 2, dtype=torch.float) / dim))


@pytest.mark.parametrize("config_class", [LlamaConfig, Qwen2Config])
def test_the_rope_base_override_reaches_the_loaded_models_rotary_frequencies(config_class, tmp_path, tokenizer):
    from tasks.evaluate.passkey import load_with_rope_theta

    torch.manual_seed(0)
    AutoModel.from_config(config_class(**TINY)).save_pretrained(tmp_path)

    default = load_with_rope_theta(str(tmp_path), None)
    longer = load_with_rope_theta(str(tmp_path), 1e5)

    torch.testing.assert_close(default.backbone.rotary_emb.inv_freq, _inv_freq(1e4))
    torch.testing.assert_close(longer.backbone.rotary_emb.inv_freq, _inv_freq(1e5))
    assert rope_thetas(longer.backbone.config) == [1e5]
    # The trained weights are untouched; only the positions' rotation changes the embedding.
    for (name, a), b in zip(default.state_dict().items(), longer.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b, msg=name)
    text = ["The river runs to the sea. Ivy's pass key is 52671."]
    assert not torch.allclose(default.encode(text, tokenizer), longer.encode(text, tokenizer))


def test_set_rope_theta_sets_every_layer_types_base():
    config = Gemma3TextConfig(**TINY, head_dim=8)  # sliding and full attention, each with its own RoPE
    assert sorted(rope_thetas(config)) == [1e4, 1e6]
    set_rope_theta(config, 1e5)
    assert rope_thetas(config) == [1e5, 1e5]
