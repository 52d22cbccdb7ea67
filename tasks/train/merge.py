"""Export the trained model: a sentence-transformers folder, and the LoRA adapter alone.

The folder is what users load, with nothing of this project installed::

    save_adapter(model, "out/adapter")                      # first: export merges the adapter away
    export_sentence_transformer(model, tokenizer, "out/model", query_instruction=TASK)

    st = SentenceTransformer("out/model")
    q = st.encode(["capital of Peru"], prompt_name="query")  # = model.encode([format_query(TASK, ...)])
    d = st.encode(["Lima is the capital of Peru."])          # documents bare, as in training

It must give the vectors the training code gives (:meth:`EmbeddingModel.encode`), which takes
more than saving the weights, because sentence-transformers 6.2 tokenizes differently by default:

* LoRA is merged into the base weights, one layer at a time in float32 and in place in the
  training dtype (:func:`merge_in_float32`: no float32 copy of the whole model, so a 7B model on
  its GPU needs a few hundred MB more, not 28 GB), so the folder is a plain ``AutoModel``
  checkpoint: Transformer -> Pooling("lasttoken") -> Normalize. The merged model in memory is
  what sentence-transformers saves and checks; no second copy is loaded or written.
* EOS: training appends it itself (:func:`tasks.train.text.tokenize_with_eos`), but most
  tokenizers add none (SmolLM2's). The exported tokenizer appends it: setting ``add_eos_token``
  rebuilds its post-processor (keeping a BOS the tokenizer adds), which is saved in
  ``tokenizer.json`` (transformers 5 drops the flag itself from ``tokenizer_config.json``).
  Verified after reloading, token for token against training.
* Truncation: training cuts to ``max_length - 1`` tokens and appends EOS; the exported
  tokenizer truncates to ``max_length`` *including* the EOS it appends (the tokenizers
  library reserves room for special tokens): the same tokens for every length, long texts
  too. (For a tokenizer that appends EOS itself training keeps one token less, and so does
  the export: ``max_seq_length`` is the longest row training makes, see
  :func:`longest_training_row`.)
* Chat template: sentence-transformers 6.2 renders plain strings through a model's chat
  template when it has one (SmolLM2's would end every input in ``<|im_end|>\\n``, and last-token
  pooling would pool a newline). The text-only modality is pinned in ``sentence_bert_config.json``
  and the template is left out of the folder.
* Padding side: saved as given (default right; transformers 5 saves it only as an init
  argument). ST's last-token pooling reads the last 1 of the attention mask, so either side works,
  but ST passes no position ids, so transformers numbers the columns: with right padding every
  row's tokens sit at 0, 1, 2, … as in training (:meth:`EmbeddingModel.forward`), whatever its batch.
* Prompts: ``"query"`` is ``format_query(query_instruction, "")`` ("Instruct: …\\nQuery: "), ST
  prepends it as plain text; ``"document"`` is empty; no default prompt; cosine similarity.
"""

from __future__ import annotations

import copy
import os
import shutil
import tempfile
from pathlib import Path

import torch
from peft import PeftModel
from peft.tuners.lora import LoraLayer

from tasks.train.model import EmbeddingModel
from tasks.train.text import PaddingSide, format_query, tokenize_with_eos

# sentence-transformers' feature-extraction defaults, minus the "message" (chat) modality it
# would add because the tokenizer has a chat template.
TEXT_ONLY_MODALITY = {"text": {"method": "forward", "method_output_name": "last_hidden_state"}}
TOKEN_EMBEDDINGS = "token_embeddings"
# Texts the exported tokenizer must turn into the training code's tokens (and one too long).
PROBE_TEXTS = ["hi", format_query("Retrieve passages", "capital of Peru"), "", "Lima is the capital of Peru."]


def save_adapter(model: EmbeddingModel, out_dir: str | Path) -> Path:
    """Save the LoRA adapter alone (``adapter_config.json`` + weights, a few MB).

    Load it onto the same base model with ``PeftModel.from_pretrained(AutoModel.from_pretrained(base), out_dir)``.
    """
    if not isinstance(model.backbone, PeftModel):
        raise ValueError("the model has no LoRA adapter (it was trained fully, or already merged by an export)")
    out_dir = Path(out_dir)
    model.backbone.save_pretrained(out_dir)
    return out_dir


def longer_than(max_length: int) -> str:
    """A text of more than ``max_length`` tokens (every word is at least one), to probe truncation."""
    return " ".join(["fox"] * (max_length + 1))


def longest_training_row(tokenizer, max_length: int) -> int:
    """The tokens (EOS included) of the longest row :func:`tokenize_with_eos` makes at ``max_length``.

    ``max_length`` for most tokenizers; one less for a tokenizer that appends EOS itself
    (its own EOS takes the slot kept for ours before it is replaced). Measured, not assumed,
    so the export follows the training code.
    """
    return tokenize_with_eos(tokenizer, [longer_than(max_length)], max_length)["input_ids"].shape[1]


def eos_appending_tokenizer(tokenizer, max_tokens: int, padding_side: PaddingSide):
    """A copy of ``tokenizer`` that appends EOS, truncates to ``max_tokens`` (EOS included), has no chat template."""
    if tokenizer.eos_token_id is None:
        raise ValueError(f"{type(tokenizer).__name__} has no eos_token: last-token pooling needs one")
    plain, with_specials = tokenizer("a", add_special_tokens=False)["input_ids"], tokenizer("a")["input_ids"]
    adds_bos = tokenizer.bos_token_id is not None and with_specials[:1] == [tokenizer.bos_token_id] != plain[:1]
    exported = copy.deepcopy(tokenizer)
    # transformers 5's TokenizersBackend rebuilds its post-processor ("[BOS] $A EOS") from these
    # flags; save_pretrained keeps that post-processor in tokenizer.json (and drops the flags).
    exported.add_bos_token = adds_bos
    exported.add_eos_token = True
    exported.padding_side = padding_side
    exported.init_kwargs["padding_side"] = padding_side  # save_pretrained writes init arguments only
    exported.model_max_length = max_tokens
    exported.chat_template = None
    return exported


def check_exported_tokenizer(path: str | Path, tokenizer, max_length: int, padding_side: PaddingSide) -> None:
    """Reload the exported tokenizer: it must tokenize as training does (:func:`tokenize_with_eos`)."""
    from transformers import AutoTokenizer

    reloaded = AutoTokenizer.from_pretrained(str(path))
    if reloaded.padding_side != padding_side or reloaded.chat_template is not None:
        raise RuntimeError(f"the exported tokenizer reloads with padding_side={reloaded.padding_side!r} "
                           f"(wanted {padding_side!r}) and chat template {reloaded.chat_template is not None}")
    for text in PROBE_TEXTS + [longer_than(max_length)]:
        expected = tokenize_with_eos(tokenizer, [text], max_length)["input_ids"][0].tolist()
        actual = reloaded(text, truncation=True)["input_ids"]
        if actual != expected:
            raise RuntimeError(
                f"the exported tokenizer does not reproduce training's tokens for {text[:40]!r}: "
                f"it gives {actual[-5:]} (last 5 of {len(actual)}), training {expected[-5:]} (of {len(expected)}); "
                f"{type(tokenizer).__name__} may not support add_eos_token"
            )


def merge_in_float32(model: EmbeddingModel) -> EmbeddingModel:
    """Fold LoRA into the base weights in place, layer by layer, in float32; return ``model`` without adapters.

    Each merged weight is ``W + scale · B A`` computed in float32 and rounded once to the base's
    dtype (a merge in bf16 arithmetic would round ``BA`` first, an error of the size of small
    LoRA updates). Only one layer's float32 copy exists at a time, on the weight's own device.
    """
    backbone = model.backbone
    if not isinstance(backbone, PeftModel):
        return model
    with torch.no_grad():
        for module in backbone.modules():
            if not isinstance(module, LoraLayer):
                continue
            weight = module.get_base_layer().weight
            for adapter in module.active_adapters:
                if adapter in module.lora_A:
                    delta = module.get_delta_weight(adapter).to(weight.device, torch.float32)
                    weight.copy_(weight.float().add_(delta))
                    del delta
    model.backbone = backbone.unload()  # the adapters' modules out, the merged base layers in place
    return model


def check_exported_vectors(st, expected, half_precision: bool) -> None:
    """The exported folder must embed the probe texts as training did (cosine within rounding)."""
    actual = st.encode(PROBE_TEXTS, convert_to_tensor=True).float().cpu()
    worst = float(1 - torch.nn.functional.cosine_similarity(actual, expected.float(), dim=1).min())
    if worst > (5e-3 if half_precision else 1e-5):
        raise RuntimeError(f"the exported model's vectors differ from training's (1 - cosine = {worst:.2e} for a "
                           "probe text): the export is not the trained model")


def export_sentence_transformer(
    model: EmbeddingModel,
    tokenizer,
    out_dir: str | Path,
    query_instruction: str,
    max_length: int = 512,
    padding_side: PaddingSide = "right",
    overwrite: bool = False,
) -> Path:
    """Write ``model`` as a folder that ``SentenceTransformer(out_dir)`` loads; return ``out_dir``.

    Args:
        model: the trained model. Its LoRA adapter is merged *in place*: afterwards it encodes
            the same, but has no adapter left to save or train (call :func:`save_adapter` first).
        tokenizer: the tokenizer training used; it is not modified.
        out_dir: the folder to write; written elsewhere first and renamed into place at the end.
        query_instruction: the task definition behind the ``"query"`` prompt.
        max_length: the longest input in tokens, EOS included, as in training.
        padding_side: the saved tokenizer's padding side.
        overwrite: replace an existing non-empty ``out_dir`` instead of refusing.

    Memory and disk: LoRA is merged in place (one layer's float32 copy at a time); the merged
    model in memory is what sentence-transformers checks and writes, on the model's own device,
    and the folder is the only copy on disk (its weights are written twice, in place).
    """
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    if max_length < 2:
        raise ValueError(f"max_length must be >= 2 (at least one text token plus EOS), got {max_length}")
    if padding_side not in ("left", "right"):
        raise ValueError(f"padding_side must be 'left' or 'right', got {padding_side!r}")
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} exists and is not empty (pass overwrite=True to replace it)")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    max_tokens = longest_training_row(tokenizer, max_length)
    exported_tokenizer = eos_appending_tokenizer(tokenizer, max_tokens, padding_side)

    # Staging beside out_dir (the same file system), so the final step is a rename.
    with tempfile.TemporaryDirectory(prefix=f".{out_dir.name}.staging-", dir=out_dir.parent) as staging:
        st_dir = Path(staging) / "sentence-transformer"
        expected = model.encode(PROBE_TEXTS, tokenizer, max_length=max_length)  # training's vectors, pre-merge
        backbone = merge_in_float32(model).backbone
        # The folder's weights and tokenizer: sentence-transformers' Transformer reads its
        # configuration from them (on the meta device: no weights are loaded), then holds the
        # merged model itself, on its own device.
        backbone.save_pretrained(st_dir)
        exported_tokenizer.save_pretrained(st_dir)

        # Built from modules rather than hand-written JSON: the installed sentence-transformers
        # writes its own file names and keys.
        transformer = Transformer(str(st_dir), modality_config=TEXT_ONLY_MODALITY,
                                  module_output_name=TOKEN_EMBEDDINGS, max_seq_length=max_tokens,
                                  model_kwargs={"device_map": "meta", "dtype": backbone.dtype})
        transformer.model = backbone
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="lasttoken")
        st = SentenceTransformer(
            modules=[transformer, pooling, Normalize()], device=str(backbone.device),
            prompts={"query": format_query(query_instruction, ""), "document": ""},
            default_prompt_name=None, similarity_fn_name="cosine",
        )
        st.save(str(st_dir), create_model_card=False)  # a model card would look up the base model online
        check_exported_tokenizer(st_dir, tokenizer, max_length, padding_side)
        check_exported_vectors(st, expected, half_precision=backbone.dtype in (torch.bfloat16, torch.float16))

        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.rename(st_dir, out_dir)
    return out_dir


def load_exported(path: str | Path, device: str = "cpu"):
    """Load an exported folder with sentence-transformers, from local files only."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(path), device=device, local_files_only=True)
