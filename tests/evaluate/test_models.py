"""Model strings -> specs, and the cheap checks that run before any model loads."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from tasks.evaluate.config import EvalConfig
from tasks.evaluate.models import ModelSpecError, check_model, model_specs, parse_model
from tasks.evaluate.preflight import check_evaluation


@pytest.mark.parametrize("text, label, kind", [
    ("file:///srv/models/run7/model", "run7", "exported"),
    ("s3://bucket/models/run7/model", "run7", "exported"),
    ("/srv/exports/my-embedder", "my-embedder", "exported"),
    ("base:embedded-qwen", "base-embedded-qwen", "base"),
    ("base:/cache/SmolLM2-135M.gguf", "base-SmolLM2-135M", "base"),
    ("minilm", "minilm", "minilm"),
    ("e5-small", "e5-small", "e5-small"),
    ("random", "random", "random"),
    ("intfloat/e5-mistral-7b-instruct", "e5-mistral-7b-instruct", "hub"),
])
def test_model_strings(text, label, kind):
    spec = parse_model(text)
    assert (spec.label, spec.kind) == (label, kind)
    assert spec.is_decoder == (kind in ("exported", "base"))


def test_unknown_and_duplicate_models_are_refused():
    with pytest.raises(ModelSpecError, match="unknown model 'bert'"):
        parse_model("bert")
    with pytest.raises(ModelSpecError, match="share the label minilm"):
        model_specs(["minilm"], baselines=True, base_model="smollm2-135m")
    with pytest.raises(ModelSpecError, match="no model to evaluate"):
        model_specs([])


def test_a_folder_without_modules_json_is_not_an_exported_model(tmp_path):
    (tmp_path / "adapter").mkdir()
    with pytest.raises(ModelSpecError, match="no modules.json"):
        check_model(parse_model(f"file://{tmp_path}/adapter"))


def test_baselines_compare_against_the_base_the_model_was_trained_from(tmp_path):
    model = tmp_path / "run1" / "model"
    model.mkdir(parents=True)
    (model / "modules.json").write_text("[]")
    (model / "synthembed_train_config.json").write_text(json.dumps({"base_model": "smollm2-135m"}))
    config = EvalConfig(models=[str(model)], baselines=True, store=f"file://{tmp_path}/store")
    specs = check_evaluation(config)
    assert [s.label for s in specs] == ["run1", "base-smollm2-135m", "minilm", "e5-small"]
    assert config.base_model == "smollm2-135m"


@pytest.mark.parametrize("change, message", [
    ({"bible_samples": 3}, "bible_samples must be at least 10"),
    ({"bbc_per_label": 1}, "bbc_per_label must be at least 5"),
    ({"passkey_lengths": [256, -1]}, "passkey_lengths must be positive"),
    ({"passkey_docs": 10, "passkey_queries": 20}, "passkey_queries between 1 and passkey_docs"),
    ({"rope_theta": 0.0}, "rope_theta must be positive"),
])
def test_bad_sizes_fail_before_any_model_loads(change, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        check_evaluation(EvalConfig(models=["minilm"], store=f"file://{tmp_path}", **change))


def test_models_in_object_storage_are_fetched_once_to_local_folders(s3_env, tmp_path):
    from tasks.evaluate.models import with_local_copies
    from tasks.storage.store import check_store, open_store

    url = f"s3://synthembed-{secrets.token_hex(4)}/models/run9/model"
    store = open_store(url)
    check_store(store)
    store.write_bytes(store.path("modules.json"), b"[]")
    store.write_bytes(store.path("1_Pooling", "config.json"), b"{}")
    specs = model_specs([url, "minilm"])
    check_model(specs[0])

    local = with_local_copies(specs, tmp_path / "cache")
    assert [(s.label, s.kind, s.mteb_name) for s in local] == [(s.label, s.kind, s.mteb_name) for s in specs]
    folder = Path(local[0].location)
    assert folder.is_relative_to(tmp_path / "cache")
    assert (folder / "modules.json").read_text() == "[]" and (folder / "1_Pooling" / "config.json").is_file()
    assert local[1] == specs[1]  # built-in models have nothing to fetch
    assert with_local_copies(local, tmp_path / "cache") == local  # local folders stay as they are
