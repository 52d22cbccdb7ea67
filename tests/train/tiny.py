"""Tiny, offline stand-ins for the real thing: a byte-level BPE tokenizer and a random-init Llama.

Nothing is downloaded: the tokenizer is trained here on a few sentences (GPT-2-style byte-level
BPE, which, like SmolLM2's, appends no EOS), the model is built from a config.
"""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

EOS, PAD, BOS = "<|endoftext|>", "<pad>", "<s>"
CORPUS = [
    "Instruct: Given a web search query, retrieve relevant passages",
    "Query: what is the capital of Peru",
    "Lima is the capital and largest city of Peru.",
    "The quick brown fox jumps over the lazy dog.",
    "Embeddings map text to vectors; similar texts get similar vectors.",
]


def make_tokenizer(pad: bool = True, eos: bool = True, appends_eos: bool = False, adds_bos: bool = False):
    """A ``PreTrainedTokenizerFast``; ``appends_eos`` mimics a tokenizer that still adds EOS itself,
    ``adds_bos`` one that starts every text with BOS (as Llama's and Mistral's do)."""
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    special_tokens = [EOS, PAD] + ([BOS] if adds_bos else [])  # EOS, PAD keep ids 0, 1
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=special_tokens,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    backend.train_from_iterator(CORPUS, trainer)
    if appends_eos or adds_bos:
        single = f"{BOS + ' ' if adds_bos else ''}$A{' ' + EOS if appends_eos else ''}"
        backend.post_processor = processors.TemplateProcessing(
            single=single, special_tokens=[(t, backend.token_to_id(t)) for t in special_tokens if t != PAD])
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token=EOS if eos else None,
                                   pad_token=PAD if pad else None, bos_token=BOS if adds_bos else None)


def tiny_llama(vocab_size: int, dropout: float = 0.0):
    """A random-init 2-layer Llama base model (``AutoModel``, no LM head); fixed seed."""
    import torch
    from transformers import AutoModel, LlamaConfig

    config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=vocab_size, attention_dropout=dropout)
    torch.manual_seed(0)
    return AutoModel.from_config(config)


def save_tiny_base(folder: Path) -> Path:
    """A tiny Llama and its tokenizer saved as a base-model folder (what ``--base-model`` takes)."""
    tokenizer = make_tokenizer()
    tiny_llama(len(tokenizer)).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
