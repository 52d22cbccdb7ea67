"""Publishing the exported folders: streamed file by file, whole files only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tasks.train.publish import upload_folder


def test_folders_are_uploaded_without_reading_whole_files_into_memory(tmp_path, monkeypatch):
    # A 7B model's weights are 14.5 GB: reading each file into memory to upload it would need that much RAM.
    local = tmp_path / "model"
    (local / "1_Pooling").mkdir(parents=True)
    (local / "model.safetensors").write_bytes(b"w" * 3_000_000)
    (local / "1_Pooling" / "config.json").write_text("{}")

    def refuse(self):
        raise AssertionError(f"read {self} whole into memory")

    monkeypatch.setattr(Path, "read_bytes", refuse)
    url = upload_folder(local, f"file://{tmp_path}/out", "model")
    monkeypatch.undo()
    assert url == f"file://{tmp_path}/out/model"
    uploaded = tmp_path / "out" / "model"
    assert (uploaded / "model.safetensors").read_bytes() == b"w" * 3_000_000
    assert (uploaded / "1_Pooling" / "config.json").read_text() == "{}"
    assert sorted(p.name for p in uploaded.rglob("*")) == ["1_Pooling", "config.json", "model.safetensors"]


@pytest.mark.parametrize("existing", [False, True])
def test_an_upload_replaces_a_file_whole(tmp_path, existing):
    local = tmp_path / "adapter"
    local.mkdir()
    (local / "adapter_model.safetensors").write_bytes(b"new")
    if existing:
        (tmp_path / "out" / "adapter").mkdir(parents=True)
        (tmp_path / "out" / "adapter" / "adapter_model.safetensors").write_bytes(b"old, longer")
    upload_folder(local, f"file://{tmp_path}/out", "adapter")
    assert (tmp_path / "out" / "adapter" / "adapter_model.safetensors").read_bytes() == b"new"
    assert [p.name for p in (tmp_path / "out" / "adapter").iterdir()] == ["adapter_model.safetensors"]
