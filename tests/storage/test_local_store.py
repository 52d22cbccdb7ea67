"""file:// store: atomic writes and relative URLs. (Parts and the manifest over a store: tests/runs/.)"""

from __future__ import annotations

from tasks.storage.store import open_store


def test_atomic_write_replaces_and_leaves_no_temporary_files(tmp_path):
    store = open_store(f"file://{tmp_path}")
    path = store.path("a", "b.json")
    store.write_json(path, {"v": 1})
    store.write_json(path, {"v": 2})
    assert store.read_json(path) == {"v": 2}
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["b.json"]
    assert store.read_json(store.path("missing.json")) is None


def test_relative_store_urls_resolve_under_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert open_store("file://./data").root == str(tmp_path / "data")
    assert open_store("data").root == str(tmp_path / "data")
