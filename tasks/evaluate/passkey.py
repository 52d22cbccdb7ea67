"""Personalized passkey retrieval: can the embedding find one sentence in a long document?

E5-mistral's long-context probe (paper §5.2, REFERENCE §4). Every document is the same neutral
filler ("The river runs to the sea. The hills are quiet. …") with one sentence inserted at a
random sentence boundary::

    Ivy's pass key is 52671. Remember it. 52671 is the pass key of Ivy.

Each document names a different person. A query asks for one person's pass key; the model must
rank that person's document first among all the candidates (100 in the paper), for 50 queries
per context length. Since the filler is identical everywhere, only the inserted sentence tells
the documents apart, so the score says whether the embedding still "sees" a short span deep in
a long input. The paper's model kept 100 % up to its 4k sliding attention window and collapsed
beyond it; raising the RoPE base from 1e4 to 1e5 (:func:`load_with_rope_theta`, no retraining)
kept it above 90 % to 32k.

    model = load_with_rope_theta(resolve_base_model("smollm2-135m"), rope_theta=1e5)
    embed = model_encoder(model, tokenizer, batch_size=4)
    run_passkey(embed, embed, tokenizer, lengths=(256, 1024, 4096))
    # [{"length": 256, "accuracy": 1.0, "n_docs": 100, "n_queries": 50}, …]

The pieces work without a model; any ``list[str] -> (N, H)`` function can be scored:

>>> docs = generate_passkey_documents(3, context_tokens=80, tokenizer_or_counter=None, seed=0)
>>> [doc.text.count("pass key") for doc in docs], len({doc.name for doc in docs})
([2, 2, 2], 3)
>>> passkey_query("Ivy")
"Instruct: Given a question about a person's pass key, retrieve the document that contains it\\nQuery: what is Ivy's pass key?"
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.train.text import format_query

# An embedder: texts (already formatted) -> (N, H) array or tensor, one row per text, in order.
Embedder = Callable[[list[str]], Any]
TokenCounter = Callable[[str], int]

PASSKEY_TASK = "Given a question about a person's pass key, retrieve the document that contains it"
DEFAULT_LENGTHS = (256, 512, 1024, 2048, 4096)
# Neutral sentences with no names and no digits, so that nothing in the filler competes with
# the one sentence that matters. Repeated in this order to the requested length.
FILLER = (
    "The river runs to the sea.",
    "The hills are quiet.",
    "Clouds drift over the town.",
    "The road goes on and on.",
    "Birds sing in the morning.",
    "Night follows the day.",
    "The wind moves through the trees.",
    "Here we are again.",
)
# Distinct one-word first names (no filler words among them); more documents than names get
# "First Last" pairs instead.
FIRST_NAMES = (
    "Aaron", "Abigail", "Adam", "Adrian", "Agnes", "Aiden", "Alice", "Amara", "Amelia", "Andre",
    "Anika", "Arthur", "Astrid", "Beatrice", "Benjamin", "Bianca", "Boris", "Bruno", "Camila", "Carlos",
    "Caspar", "Cecilia", "Chloe", "Clara", "Conrad", "Dalia", "Daniel", "Dario", "Delphine", "Dmitri",
    "Edith", "Elena", "Elias", "Emeka", "Emil", "Esther", "Fatima", "Felix", "Fiona", "Florian",
    "Freya", "Gabriel", "Greta", "Gustav", "Hana", "Harold", "Hector", "Helga", "Hugo", "Ibrahim",
    "Ines", "Ingrid", "Isaac", "Ivan", "Ivy", "Jasper", "Jonas", "Julia", "Kai", "Karim",
    "Katya", "Keiko", "Lars", "Leila", "Leon", "Lorenzo", "Lucia", "Magnus", "Malik", "Marta",
    "Mateo", "Maya", "Milan", "Mira", "Nadia", "Naomi", "Nikolai", "Nina", "Oscar", "Otto",
    "Pablo", "Petra", "Priya", "Quentin", "Rafael", "Rania", "Rosa", "Rupert", "Sakura", "Samir",
    "Selma", "Silas", "Sofia", "Stefan", "Tariq", "Thea", "Tobias", "Ursula", "Valentin", "Vera",
    "Viktor", "Wanda", "Xavier", "Yara", "Yusuf", "Zara", "Zoltan", "Leopold", "Matilda", "Octavia",
)
LAST_NAMES = (
    "Abara", "Berg", "Castillo", "Dubois", "Eriksen", "Fontaine", "Garcia", "Haddad", "Ito", "Jansen",
    "Kowalski", "Lindqvist", "Moreau", "Nakamura", "Okafor", "Petrov", "Quiroga", "Rossi", "Schmidt", "Tanaka",
)


@dataclass(frozen=True)
class PasskeyDoc:
    """One candidate document: ``text`` hides ``name``'s ``passkey`` at ``position_fraction``.

    ``position_fraction`` is the share of filler sentences before the passkey sentence:
    0.0 at the very start, 1.0 at the very end.
    """

    text: str
    name: str
    passkey: str  # five digits, as written in the text
    position_fraction: float


def passkey_sentence(name: str, passkey: str) -> str:
    """The one informative sentence of a document (the paper's wording, name-personalised)."""
    return f"{name}'s pass key is {passkey}. Remember it. {passkey} is the pass key of {name}."


def passkey_query(name: str) -> str:
    """The query for ``name``'s document, with the task instruction (documents stay bare)."""
    return format_query(PASSKEY_TASK, f"what is {name}'s pass key?")


# --- sizing ----------------------------------------------------------------------------------------

def count_words(text: str) -> int:
    """The fallback length measure: whitespace-separated words."""
    return len(text.split())


def token_counter(tokenizer_or_counter: Any = None) -> TokenCounter:
    """A ``str -> int`` length measure from a tokenizer, a counting function, or ``None`` (words).

    Tokenizers are recognised by their ``encode`` method: a Hugging Face tokenizer (a list of
    ids) or a ``tokenizers.Tokenizer`` (an ``Encoding`` with ``.ids``); special tokens are not
    counted, because the model's own (BOS, EOS) come on top of any text alike.
    """
    if tokenizer_or_counter is None:
        return count_words
    encode = getattr(tokenizer_or_counter, "encode", None)
    if encode is not None:
        def count(text: str) -> int:
            encoded = encode(text, add_special_tokens=False)
            return len(getattr(encoded, "ids", encoded))
        return count
    if callable(tokenizer_or_counter):
        return tokenizer_or_counter
    raise TypeError(f"expected a tokenizer, a str -> int function or None, got {type(tokenizer_or_counter).__name__}")


def _filler(n_sentences: int) -> list[str]:
    return [FILLER[i % len(FILLER)] for i in range(n_sentences)]


def filler_sentence_count(target_tokens: int, count: TokenCounter) -> int:
    """How many filler sentences make about ``target_tokens`` tokens (within one sentence).

    Token counts are nearly additive over sentences, but not exactly (a tokenizer may merge
    across a boundary), so the estimate from one round of the filler is corrected by measuring.
    """
    per_sentence = count(" ".join(FILLER)) / len(FILLER)
    if target_tokens < per_sentence:
        raise ValueError(f"{target_tokens} tokens leave no room for filler (one sentence is ~{per_sentence:.0f})")
    n = max(1, round(target_tokens / per_sentence))
    for _ in range(4):
        measured = count(" ".join(_filler(n)))
        if abs(measured - target_tokens) <= per_sentence:
            break
        n = max(1, round(n * target_tokens / measured))
    return n


# --- documents -------------------------------------------------------------------------------------

def _names(n: int, rng: random.Random) -> list[str]:
    if n <= len(FIRST_NAMES):
        return rng.sample(FIRST_NAMES, n)
    pairs = [f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES]
    if n > len(pairs):
        raise ValueError(f"at most {len(pairs)} documents (distinct names), got {n}")
    return rng.sample(pairs, n)


def generate_passkey_documents(
    n_docs: int,
    context_tokens: int,
    tokenizer_or_counter: Any = None,
    seed: int = 0,
) -> list[PasskeyDoc]:
    """``n_docs`` filler documents of about ``context_tokens`` tokens, each with one person's pass key.

    Args:
        n_docs: how many documents (the paper: 100); every one names a different person.
        context_tokens: the length of each document, passkey sentence included, measured with
            ``tokenizer_or_counter``: within ~one filler sentence plus a few tokens.
        tokenizer_or_counter: the model's tokenizer, a ``str -> int`` counter, or ``None`` to
            count words (see :func:`token_counter`).
        seed: names, passkeys (distinct five-digit numbers) and positions all follow from it.

    Returns:
        The documents, in no particular order; the position of the passkey sentence is drawn
        uniformly from the sentence boundaries, start and end included.
    """
    if n_docs < 1:
        raise ValueError(f"n_docs must be >= 1, got {n_docs}")
    count = token_counter(tokenizer_or_counter)
    rng = random.Random(seed)
    names = _names(n_docs, rng)
    passkeys = [str(key) for key in rng.sample(range(10_000, 100_000), n_docs)]
    # The filler is shared, so it is sized once, leaving room for an average passkey sentence.
    room = context_tokens - round(np.mean([count(passkey_sentence(*pair)) for pair in zip(names, passkeys)]))
    sentences = _filler(filler_sentence_count(room, count))

    docs = []
    for name, passkey in zip(names, passkeys, strict=True):
        slot = rng.randint(0, len(sentences))  # one of len + 1 boundaries: before the first … after the last
        parts = sentences[:slot] + [passkey_sentence(name, passkey)] + sentences[slot:]
        docs.append(PasskeyDoc(" ".join(parts), name, passkey, slot / len(sentences)))
    return docs


# --- scoring ---------------------------------------------------------------------------------------

def sample_queries(docs: Sequence[PasskeyDoc], n_queries: int, seed: int = 0) -> list[int]:
    """The indices of the documents whose person is asked about: ``n_queries`` distinct ones, seeded."""
    if not 1 <= n_queries <= len(docs):
        raise ValueError(f"n_queries must be between 1 and the number of documents ({len(docs)}), got {n_queries}")
    return random.Random(seed).sample(range(len(docs)), n_queries)


def _unit_rows(embeddings: Any, n_rows: int, what: str) -> np.ndarray:
    """An embedder's output as float64 numpy rows of length 1 (zero rows stay zero)."""
    if hasattr(embeddings, "detach"):  # a torch tensor, possibly on a GPU or in half precision
        embeddings = embeddings.detach().float().cpu().numpy()
    array = np.asarray(embeddings, dtype=np.float64)
    if array.ndim != 2 or array.shape[0] != n_rows:
        raise ValueError(f"the {what} embedder returned shape {array.shape}, expected ({n_rows}, H)")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.maximum(norms, 1e-12)


def top1_hits(scores: np.ndarray, targets: Sequence[int]) -> np.ndarray:
    """Per query, whether its target document scores strictly above every other document.

    Strictly: a tie is a miss, so an embedder that cannot tell the documents apart (identical
    vectors, e.g. when truncation cut the passkey sentence away) scores 0, not a lucky 1/n.
    """
    rows = np.arange(len(targets))
    target_scores = scores[rows, targets]
    others = scores.copy()
    others[rows, targets] = -np.inf
    return target_scores > others.max(axis=1)


def passkey_accuracy(
    embed_queries: Embedder,
    embed_documents: Embedder,
    docs: Sequence[PasskeyDoc],
    n_queries: int = 50,
    seed: int = 0,
) -> float:
    """Top-1 accuracy: the share of queries whose person's document ranks first by cosine similarity.

    Args:
        embed_queries: formatted queries (:func:`passkey_query`) -> (n_queries, H).
        embed_documents: the documents' texts, bare -> (len(docs), H). Rows need not be
            normalised: both sides are normalised here, so dot products are cosines.
        docs: every candidate document (the paper: 100).
        n_queries: how many people to ask about, a seeded sample of the documents (the paper: 50).
        seed: picks the people.
    """
    targets = sample_queries(docs, n_queries, seed)
    queries = _unit_rows(embed_queries([passkey_query(docs[i].name) for i in targets]), len(targets), "query")
    documents = _unit_rows(embed_documents([doc.text for doc in docs]), len(docs), "document")
    scores = queries @ documents.T  # (n_queries, n_docs) cosine similarities
    return float(top1_hits(scores, targets).mean())


def run_passkey(
    model_encode_query: Embedder,
    model_encode_doc: Embedder,
    tokenizer: Any,
    lengths: Sequence[int] = DEFAULT_LENGTHS,
    n_docs: int = 100,
    n_queries: int = 50,
    seed: int = 0,
) -> list[dict]:
    """The benchmark: one accuracy per context length, documents sized with ``tokenizer``.

    The same seed at every length gives the same people, passkeys and queries, so the lengths
    differ only in the filler. The document encoder must not truncate below the longest length
    (a cut passkey sentence reads as a model failure); :func:`model_encoder` takes care of that.

    Returns:
        ``[{"length", "accuracy", "n_docs", "n_queries"}, …]`` in the order of ``lengths``.
    """
    rows = []
    for length in lengths:
        docs = generate_passkey_documents(n_docs, length, tokenizer, seed)
        accuracy = passkey_accuracy(model_encode_query, model_encode_doc, docs, n_queries, seed)
        rows.append({"length": length, "accuracy": accuracy, "n_docs": n_docs, "n_queries": n_queries})
    return rows


def model_encoder(model, tokenizer, batch_size: int = 4, max_length: int = 1 << 17) -> Embedder:
    """An :class:`~tasks.train.model.EmbeddingModel` as an :data:`Embedder` for queries and documents.

    ``max_length`` is a cap, not a padding length (batches pad to their longest row), so the
    default never truncates a benchmark document; a long document costs memory by its own
    length, hence the small batches.
    """
    def embed(texts: list[str]):
        return model.encode(texts, tokenizer, batch_size=batch_size, max_length=max_length)
    return embed


# --- RoPE base -------------------------------------------------------------------------------------

def _rope_blocks(config) -> list[dict]:
    """The dicts of ``config.rope_parameters`` that hold a base: one, or one per layer type."""
    parameters = getattr(config, "rope_parameters", None)
    if not isinstance(parameters, dict) or not parameters:
        return []
    # Nested: {"sliding_attention": {...}, "full_attention": {...}}; a flat dict has a str rope_type.
    nested = [block for block in parameters.values() if isinstance(block, dict)]
    return nested if len(nested) == len([v for v in parameters.values() if v is not None]) else [parameters]


def set_rope_theta(config, rope_theta: float) -> None:
    """Set the RoPE base of a transformers config in place, wherever this version keeps it.

    transformers >= 5 keeps it in ``config.rope_parameters["rope_theta"]`` (``rope_scaling`` is
    the same dict under its old name; old ``config.json`` files with a top-level ``rope_theta``
    are moved there on load). Models with one RoPE per layer type (Gemma 3: sliding and full
    attention) nest one dict per type, and every one gets the new base. transformers 4 kept it
    in ``config.rope_theta``. A scaled RoPE (``rope_type`` llama3, yarn, …) keeps its scaling:
    only the base changes.
    """
    blocks = _rope_blocks(config)
    for block in blocks:
        block["rope_theta"] = float(rope_theta)
    if hasattr(config, "rope_theta"):  # transformers 4, or a model that still has the attribute
        config.rope_theta = float(rope_theta)
    elif not blocks:
        raise ValueError(f"{type(config).__name__} has no RoPE base (is it a RoPE model?)")


def rope_thetas(config) -> list[float]:
    """The RoPE base(s) a config holds (one per layer type when nested), for reports and checks."""
    blocks = _rope_blocks(config)
    return [float(block["rope_theta"]) for block in blocks] if blocks else [float(config.rope_theta)]


def load_with_rope_theta(path: str, rope_theta: float | None, **model_kwargs):
    """Load the checkpoint at ``path`` as an :class:`~tasks.train.model.EmbeddingModel` with another RoPE base.

    The paper's trick for longer contexts (§5.2: 1e4 -> 1e5): rotary frequencies are computed
    from the config when the model is built (``inv_freq`` is a buffer, never saved), so changing
    the config before loading changes them, with the trained weights untouched.

    Args:
        path: a checkpoint folder (:func:`tasks.train.base_model.resolve_base_model` makes one
            from any model spec) or a hub id; a plain ``AutoModel`` checkpoint, so a LoRA model
            is merged first (``merge_and_unload``, as the export does).
        rope_theta: the new base; ``None`` keeps the checkpoint's.
        model_kwargs: passed to ``AutoModel.from_pretrained`` (``dtype``, ``attn_implementation``, …).

    Beyond the base, mind the attention window: Mistral's 4k sliding window (its config's
    ``sliding_window``) is what made E5-mistral collapse past 4k, whatever the base.
    """
    from transformers import AutoConfig, AutoModel

    from tasks.train.model import EmbeddingModel

    config = AutoConfig.from_pretrained(path)
    if rope_theta is not None:
        set_rope_theta(config, rope_theta)
    return EmbeddingModel(AutoModel.from_pretrained(path, config=config, **model_kwargs))
