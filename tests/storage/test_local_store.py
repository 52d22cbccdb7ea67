"""file:// store: atomic writes, the manifest's resume rules, Parquet round trips."""

from __future__ import annotations

import polars as pl
import pytest

from tasks.runs.manifest import Manifest, ParameterMismatch, ShardEntry, ShardStatus, check_same_run, load_manifest, save_manifest
from tasks.runs.parts import SCHEMA, part_file, scan_run, write_part
from tasks.storage.store import open_store
from tasks.synth.config import SynthesisConfig
from tasks.synth.run import prepare_run

LLM = {"base_url": "http://127.0.0.1:1/v1", "model": "m"}


def _row(i: int, task_type="sts", language="en", negative="n") -> dict:
    return {"example_id": f"id{i}", "task_type": task_type, "language": language, "task": "t", "query": f"q{i}",
            "positive": "p", "negative": negative, "model": "m", "template_id": "sts.generate.v1",
            "placeholders": "{}", "raw": "{}", "prompt_tokens": 1, "completion_tokens": 2, "shard_seed": 3,
            "example_index": i}


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


def test_shard_round_trip_keeps_schema_and_hive_layout(tmp_path):
    store = open_store(f"file://{tmp_path}")
    path = write_part(store, "r1", "short_short", "es", 0, [_row(0, "short_short", "es", None), _row(1, "short_short", "es", None)])
    assert path == part_file(str(tmp_path / "runs" / "r1"), "short_short", "es", 0)
    frame = pl.read_parquet(path)
    assert frame.schema == SCHEMA and frame.height == 2 and frame["negative"].null_count() == 2
    hive = pl.scan_parquet(str(tmp_path / "runs/r1/data/**/*.parquet"), hive_partitioning=True).collect()
    assert set(hive["task_type"]) == {"short_short"} and set(hive["language"]) == {"es"}


def test_rewriting_a_shard_replaces_it_instead_of_adding_rows(tmp_path):
    store = open_store(f"file://{tmp_path}")
    write_part(store, "r1", "sts", "en", 0, [_row(i) for i in range(3)])
    write_part(store, "r1", "sts", "en", 0, [_row(i) for i in range(2)])
    files = list((tmp_path / "runs/r1/data").rglob("*.parquet"))
    assert len(files) == 1 and pl.read_parquet(files[0]).height == 2


def test_scan_run_reads_only_shards_the_manifest_commits(tmp_path):
    store = open_store(f"file://{tmp_path}")
    done = write_part(store, "r1", "sts", "en", 0, [_row(0)])
    orphan = write_part(store, "r1", "sts", "es", 0, [_row(1, language="es")])  # written, never committed
    manifest = Manifest(run_id="r1", shards={
        "sts/en": ShardEntry(task_type="sts", language="en", seed=1, requested=1, status=ShardStatus.COMPLETE, rows=1, path=done),
        "sts/es": ShardEntry(task_type="sts", language="es", seed=2, requested=1, status=ShardStatus.FAILED, path=orphan),
    })
    save_manifest(store, manifest)
    frame = scan_run(store, "r1").collect()
    assert frame["language"].to_list() == ["en"]
    with pytest.raises(FileNotFoundError, match="no synthesis run 'nope'"):
        scan_run(store, "nope")


def test_prepare_run_plans_once_and_resumes_with_the_same_parameters(tmp_path):
    store = open_store(f"file://{tmp_path}")
    config = SynthesisConfig(languages="en,es", task_types="sts,retrieval", run_id="r1", store=str(tmp_path), llm=LLM)
    manifest = prepare_run(store, config)
    assert [e.status for e in manifest.shards.values()] == [ShardStatus.PENDING] * 4
    assert load_manifest(store, "r1") == manifest  # the plan is on disk before any LLM call

    manifest.shards["sts/en"].status = ShardStatus.COMPLETE
    save_manifest(store, manifest)
    resumed = prepare_run(store, config.model_copy(update={"shard_concurrency": 9}))  # not an identity change
    assert [e.key for e in resumed.unfinished()] == ["retrieval/en", "sts/es", "retrieval/es"]


def test_reusing_a_run_id_with_other_parameters_is_refused(tmp_path):
    store = open_store(f"file://{tmp_path}")
    config = SynthesisConfig(languages="en", run_id="r1", store=str(tmp_path), llm=LLM)
    prepare_run(store, config)
    with pytest.raises(ParameterMismatch, match="seed: was 0, now 7"):
        prepare_run(store, config.model_copy(update={"seed": 7}))
    check_same_run(load_manifest(store, "r1"), config.identity())


def test_a_part_written_but_never_committed_is_removed_before_the_next_writer_starts(tmp_path):
    from tasks.runs.manifest import PartEntry
    from tasks.runs.parts import remove_uncommitted

    store = open_store(f"file://{tmp_path}")
    done = write_part(store, "r1", "sts", "en", 0, [_row(0)])
    orphan = write_part(store, "r1", "sts", "en", 1, [_row(1)])  # the process died before its commit
    manifest = Manifest(run_id="r1", shards={"sts/en": ShardEntry(task_type="sts", language="en", seed=1, requested=2, parts=[
        PartEntry(index=0, seed=1, requested=1, status=ShardStatus.COMPLETE, rows=1, path=done),
        PartEntry(index=1, seed=2, requested=1)])})
    save_manifest(store, manifest)
    assert pl.read_parquet(str(tmp_path / "runs/r1/data/**/*.parquet")).height == 2  # what a glob would read
    assert remove_uncommitted(store, manifest) == [orphan]
    assert pl.read_parquet(str(tmp_path / "runs/r1/data/**/*.parquet")).height == 1 == scan_run(store, "r1").collect().height
