"""The exported folder gives, under plain sentence-transformers, the training code's vectors.

Given SmolLM2-135M with a non-trivial LoRA adapter (random B matrices, fixed seed), the
reference is :meth:`EmbeddingModel.encode` *before* the export merges the adapter: queries
formatted with :func:`format_query`, documents bare. ``SentenceTransformer(folder)`` must
reproduce it (so the merge is faithful and the tokenization the same), feed EOS as the last
token, apply no chat template, and not depend on padding. The adapter saved alone must reload
with peft. Loading happens offline, with sockets refused: nothing may reach the hub.

A tiny Llama covers the tokenizer variants (BOS, an EOS the tokenizer adds itself, right padding).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tasks.train.merge import export_sentence_transformer, load_exported, merge_in_float32, save_adapter
from tasks.train.model import EmbeddingModel, apply_lora
from tasks.train.text import format_query, tokenize_with_eos
from tests.train.tiny import make_tokenizer, tiny_llama

# peft 0.21 reads transformers' deprecated `is_gradient_checkpointing`: third-party noise.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

TASK = "Given a web search query, retrieve relevant passages that answer the query"
QUERIES = ["capital of Peru", "what are text embeddings", "fox"]
DOCUMENTS = [
    "Lima is the capital and largest city of Peru.",
    "Embeddings map text to vectors, so that similar texts get similar vectors.",
    "The quick brown fox jumps over the lazy dog.",
    "dog",
]


def _randomize_lora(model: EmbeddingModel, std: float, seed: int = 0) -> EmbeddingModel:
    torch.manual_seed(seed)
    for name, parameter in model.named_parameters():
        if "lora_B" in name:  # peft starts B at zero: the adapter would be a no-op
            torch.nn.init.normal_(parameter, std=std)
    return model


def _assert_same_vectors(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)
    assert bool(((actual * expected).sum(dim=-1) > 0.9999).all())  # unit rows: a dot product is a cosine


@pytest.fixture(scope="module")
def smollm2(smollm2_checkpoint, tmp_path_factory, offline):
    """Reference vectors from the LoRA model, then its adapter alone and the exported folder."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_checkpoint)
    torch.manual_seed(0)  # peft draws the A matrices
    model = EmbeddingModel.from_pretrained(smollm2_checkpoint, lora_rank=8, lora_alpha=16)
    base = model.encode(DOCUMENTS, tokenizer)  # a fresh adapter: the base model's vectors
    _randomize_lora(model, std=0.1)
    queries = model.encode([format_query(TASK, q) for q in QUERIES], tokenizer)
    documents = model.encode(DOCUMENTS, tokenizer)

    out = tmp_path_factory.mktemp("export")
    adapter_dir = save_adapter(model, out / "adapter")
    model_dir = export_sentence_transformer(model, tokenizer, out / "model", query_instruction=TASK)
    return {"tokenizer": tokenizer, "base": base, "queries": queries, "documents": documents,
            "adapter_dir": adapter_dir, "model_dir": model_dir, "model": model}


@pytest.fixture(scope="module")
def st(smollm2):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(smollm2["model_dir"]), device="cpu")  # what a user types


# --- SmolLM2 + LoRA --------------------------------------------------------------------------------

def test_the_adapter_changes_the_vectors(smollm2):
    # Otherwise the equalities below would not show that the merge kept the adapter.
    assert bool(((smollm2["documents"] * smollm2["base"]).sum(dim=-1) < 0.99).all())


def test_sentence_transformers_gives_the_training_vectors(smollm2, st):
    _assert_same_vectors(st.encode(QUERIES, prompt_name="query", convert_to_tensor=True), smollm2["queries"])
    _assert_same_vectors(st.encode(DOCUMENTS, convert_to_tensor=True), smollm2["documents"])
    _assert_same_vectors(st.encode_query(QUERIES, convert_to_tensor=True), smollm2["queries"])
    _assert_same_vectors(st.encode_document(DOCUMENTS, convert_to_tensor=True), smollm2["documents"])


def test_a_padded_batch_gives_the_vectors_of_one_text_at_a_time(st):
    batched = st.encode(DOCUMENTS, batch_size=len(DOCUMENTS), convert_to_tensor=True)
    one_by_one = torch.stack([st.encode(text, convert_to_tensor=True) for text in DOCUMENTS])
    torch.testing.assert_close(batched, one_by_one, atol=1e-5, rtol=1e-4)


def test_sentence_transformers_feeds_the_training_tokens_ending_in_eos_without_a_chat_template(smollm2, st):
    tokenizer, eos = smollm2["tokenizer"], smollm2["tokenizer"].eos_token_id
    long_text = " ".join(DOCUMENTS * 60)  # > 512 tokens: truncated, EOS kept
    texts = [format_query(TASK, QUERIES[0]), DOCUMENTS[0], long_text]
    expected = tokenize_with_eos(tokenizer, texts, max_length=512, padding_side="right")

    features = st.preprocess([QUERIES[0]], prompt=st.prompts["query"])
    assert features["input_ids"].tolist() == expected["input_ids"][:1, :features["input_ids"].shape[1]].tolist()
    features = st.preprocess(texts)
    assert torch.equal(features["input_ids"], expected["input_ids"])
    assert torch.equal(features["attention_mask"], expected["attention_mask"])
    last = features["attention_mask"].sum(dim=1) - 1  # right padding: each row's EOS ends its real tokens
    assert features["input_ids"].shape[1] == 512 and bool((features["input_ids"].gather(1, last[:, None]) == eos).all())
    assert tokenizer.convert_tokens_to_ids("<|im_start|>") not in features["input_ids"].tolist()[1]


def test_the_folder_holds_the_sentence_transformers_configuration(smollm2):
    folder: Path = smollm2["model_dir"]

    def read(name: str) -> dict:
        return json.loads((folder / name).read_text())

    assert [m["type"].rsplit(".", 1)[1] for m in read("modules.json")] == ["Transformer", "Pooling", "Normalize"]
    assert read("1_Pooling/config.json")["pooling_mode"] == "lasttoken"
    assert list(read("sentence_bert_config.json")["modality_config"]) == ["text"]  # no "message": no chat template
    config = read("config_sentence_transformers.json")
    assert config["prompts"] == {"query": f"Instruct: {TASK}\nQuery: ", "document": ""}
    assert config["default_prompt_name"] is None and config["similarity_fn_name"] == "cosine"
    tokenizer_config = read("tokenizer_config.json")
    assert tokenizer_config["padding_side"] == "right" and tokenizer_config["model_max_length"] == 512
    assert tokenizer_config.get("chat_template") is None and not (folder / "chat_template.jinja").exists()
    assert read("config.json")["architectures"] == ["LlamaModel"] and not (folder / "adapter_config.json").exists()


def test_the_exported_tokenizer_appends_eos_itself(smollm2):
    from transformers import AutoTokenizer

    reloaded = AutoTokenizer.from_pretrained(str(smollm2["model_dir"]))
    assert reloaded("hi")["input_ids"][-1] == reloaded.eos_token_id == smollm2["tokenizer"].eos_token_id
    assert smollm2["tokenizer"]("hi")["input_ids"][-1] != reloaded.eos_token_id  # the original was left alone


def test_the_adapter_alone_reloads_with_peft(smollm2, smollm2_checkpoint):
    from peft import PeftModel
    from transformers import AutoModel

    backbone = PeftModel.from_pretrained(AutoModel.from_pretrained(smollm2_checkpoint), str(smollm2["adapter_dir"]))
    reloaded = EmbeddingModel(backbone)
    _assert_same_vectors(reloaded.encode(DOCUMENTS, smollm2["tokenizer"]), smollm2["documents"])
    _assert_same_vectors(reloaded.encode([format_query(TASK, q) for q in QUERIES], smollm2["tokenizer"]),
                         smollm2["queries"])


def test_after_export_the_model_is_merged_and_still_encodes_the_same(smollm2):
    model = smollm2["model"]
    with pytest.raises(ValueError, match="no LoRA adapter"):
        save_adapter(model, smollm2["adapter_dir"].parent / "again")
    _assert_same_vectors(model.encode(DOCUMENTS, smollm2["tokenizer"]), smollm2["documents"])


# --- tiny Llama: tokenizer variants and arguments --------------------------------------------------

def _tiny_model(tokenizer) -> EmbeddingModel:
    return _randomize_lora(EmbeddingModel(apply_lora(tiny_llama(len(tokenizer)), rank=4, alpha=8)), std=0.2)


@pytest.mark.parametrize("tokenizer_kwargs, padding_side", [
    ({}, "right"),
    ({"adds_bos": True}, "left"),
    ({"appends_eos": True}, "left"),
    ({"adds_bos": True, "appends_eos": True}, "right"),
])
def test_tiny_exports_reproduce_training_for_each_kind_of_tokenizer(tmp_path, offline, tokenizer_kwargs,
                                                                    padding_side):
    tokenizer = make_tokenizer(**tokenizer_kwargs)
    model = _tiny_model(tokenizer)
    queries = model.encode([format_query(TASK, q) for q in QUERIES], tokenizer, max_length=16)
    documents = model.encode(DOCUMENTS, tokenizer, max_length=16)  # most are cut at 16 tokens

    st = load_exported(export_sentence_transformer(model, tokenizer, tmp_path / "st", TASK, max_length=16,
                                                   padding_side=padding_side))

    assert st.tokenizer.padding_side == padding_side
    features = st.preprocess(DOCUMENTS)
    expected = tokenize_with_eos(tokenizer, DOCUMENTS, max_length=16, padding_side=padding_side)
    assert torch.equal(features["input_ids"], expected["input_ids"])
    _assert_same_vectors(st.encode(QUERIES, prompt_name="query", convert_to_tensor=True), queries)
    _assert_same_vectors(st.encode(DOCUMENTS, convert_to_tensor=True), documents)


def test_an_existing_folder_is_replaced_only_when_asked(tmp_path, tokenizer):
    out = tmp_path / "st"
    out.mkdir()
    (out / "old.txt").write_text("previous export")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_sentence_transformer(_tiny_model(tokenizer), tokenizer, out, TASK)

    export_sentence_transformer(_tiny_model(tokenizer), tokenizer, out, TASK, overwrite=True)
    assert not (out / "old.txt").exists() and (out / "modules.json").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["st"]  # no staging folder left beside it


@pytest.mark.parametrize("kwargs, error, message", [
    ({"max_length": 1}, ValueError, "max_length must be >= 2"),
    ({"padding_side": "middle"}, ValueError, "padding_side"),
])
def test_bad_arguments_are_rejected(tmp_path, tokenizer, kwargs, error, message):
    with pytest.raises(error, match=message):
        export_sentence_transformer(_tiny_model(tokenizer), tokenizer, tmp_path / "st", TASK, **kwargs)


def test_a_tokenizer_without_eos_is_rejected(tmp_path):
    tokenizer = make_tokenizer(eos=False)
    with pytest.raises(ValueError, match="has no eos_token"):
        export_sentence_transformer(_tiny_model(tokenizer), tokenizer, tmp_path / "st", TASK)


def test_a_model_without_adapter_has_none_to_save(tmp_path, tokenizer):
    with pytest.raises(ValueError, match="no LoRA adapter"):
        save_adapter(EmbeddingModel(tiny_llama(len(tokenizer))), tmp_path / "adapter")


def test_a_bf16_model_is_merged_in_float32_and_saved_in_bf16(tokenizer):
    """The merged weight is W + BA rounded to bf16 once (a merge in bf16 arithmetic would round BA first)."""
    model = _randomize_lora(EmbeddingModel(apply_lora(tiny_llama(len(tokenizer)), rank=4, alpha=8)), std=0.02)
    for name, parameter in model.backbone.named_parameters():
        if "lora_" not in name:
            parameter.data = parameter.data.bfloat16()  # a bf16 base under float32 adapters, as trained on GPU
    layer = model.backbone.base_model.model.layers[0].self_attn.q_proj
    once = (layer.base_layer.weight.float() + layer.get_delta_weight("default").float()).bfloat16()

    merged = merge_in_float32(model).backbone.layers[0].self_attn.q_proj.weight
    assert merged.dtype == torch.bfloat16 and torch.equal(merged, once)
    twice = (layer.base_layer.weight + layer.get_delta_weight("default").bfloat16()).bfloat16()
    assert not torch.equal(twice, once)  # the control: rounding BA to bf16 first gives other weights


def test_an_export_whose_vectors_differ_from_training_is_refused(tmp_path, tokenizer, monkeypatch):
    import tasks.train.merge as export

    def drop_the_adapter(model):  # a broken merge: the base weights without the LoRA update
        model.backbone = model.backbone.unload()
        return model

    monkeypatch.setattr(export, "merge_in_float32", drop_the_adapter)
    with pytest.raises(RuntimeError, match="differ from training's"):
        export_sentence_transformer(_tiny_model(tokenizer), tokenizer, tmp_path / "st", TASK, max_length=16)
    assert not (tmp_path / "st").exists()


# --- the export's memory and disk: a 7B model on rank 0 ---------------------------------------------


def _bf16_base(model: EmbeddingModel) -> EmbeddingModel:
    for name, parameter in model.backbone.named_parameters():
        if "lora_" not in name:
            parameter.data = parameter.data.bfloat16()  # as trained on a GPU
    return model


def test_the_merge_never_holds_the_model_in_float32(tokenizer, monkeypatch):
    # Given a bf16 base (a 7B model: 14.5 GB, 28 GB in float32), the merge works layer by layer:
    # no Module.float() of the whole model, and at most one weight's float32 copy alive at a time.
    from torch.utils._python_dispatch import TorchDispatchMode
    from torch.utils._pytree import tree_flatten

    model = _bf16_base(_tiny_model(tokenizer))
    largest = max(p.numel() for n, p in model.named_parameters() if "lora_" not in n)

    def refuse(module):
        raise AssertionError("Module.float() casts every weight of the model at once")

    class Float32Copies(TorchDispatchMode):
        """The largest float32 tensor an operator makes outside the LoRA weights themselves."""

        def __init__(self):
            super().__init__()
            self.largest = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor) and t.dtype == torch.float32:
                    self.largest = max(self.largest, t.numel())
            return out

    monkeypatch.setattr(torch.nn.Module, "float", refuse)
    with Float32Copies() as copies:
        merged = merge_in_float32(model)
    assert copies.largest <= largest
    assert {p.dtype for p in merged.parameters()} == {torch.bfloat16} and not any("lora_" in n for n, _ in
                                                                                  merged.named_parameters())


def test_the_export_writes_one_copy_of_the_weights(tmp_path, tokenizer, monkeypatch):
    # Every weight file the export writes lands in the folder that becomes the model: no
    # second, intermediate copy of a 14.5 GB model in the staging area.
    from transformers import PreTrainedModel

    folders: list[Path] = []
    save = PreTrainedModel.save_pretrained

    def recording(self, save_directory, *args, **kwargs):
        folders.append(Path(save_directory).resolve())
        return save(self, save_directory, *args, **kwargs)

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", recording)
    model = _tiny_model(tokenizer)
    expected = model.encode(DOCUMENTS, tokenizer)
    out = export_sentence_transformer(model, tokenizer, tmp_path / "st", TASK, max_length=32)
    assert folders and len(set(folders)) == 1
    _assert_same_vectors(load_exported(out).encode(DOCUMENTS, convert_to_tensor=True), expected)
