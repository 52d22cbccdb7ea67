"""A run's parts on a file:// store: Parquet round trips in the Hive layout, one file per part,
readers that see only what the manifest commits, and uncommitted files removed."""

from __future__ import annotations

import polars as pl
import pytest

from tasks.runs.manifest import Manifest, PartEntry, ShardEntry, ShardStatus, save_manifest
from tasks.runs.parts import part_file, remove_uncommitted, scan_run, write_part
from tasks.runs.schema import ROW_SCHEMA
from tasks.storage.store import open_store
from tests.support.runs import complete_part, row, shard


def test_shard_round_trip_keeps_schema_and_hive_layout(tmp_path):
    store = open_store(f"file://{tmp_path}")
    rows = [row(i, task_type="short_short", language="es", negative=None) for i in range(2)]
    path = write_part(store, "r1", "short_short", "es", 0, rows)
    assert path == part_file(str(tmp_path / "runs" / "r1"), "short_short", "es", 0)
    frame = pl.read_parquet(path)
    assert frame.schema == ROW_SCHEMA and frame.height == 2 and frame["negative"].null_count() == 2
    hive = pl.scan_parquet(str(tmp_path / "runs/r1/data/**/*.parquet"), hive_partitioning=True).collect()
    assert set(hive["task_type"]) == {"short_short"} and set(hive["language"]) == {"es"}


def test_rewriting_a_shard_replaces_it_instead_of_adding_rows(tmp_path):
    store = open_store(f"file://{tmp_path}")
    write_part(store, "r1", "sts", "en", 0, [row(i) for i in range(3)])
    write_part(store, "r1", "sts", "en", 0, [row(i) for i in range(2)])
    files = list((tmp_path / "runs/r1/data").rglob("*.parquet"))
    assert len(files) == 1 and pl.read_parquet(files[0]).height == 2


def test_scan_run_reads_only_shards_the_manifest_commits(tmp_path):
    store = open_store(f"file://{tmp_path}")
    done = write_part(store, "r1", "sts", "en", 0, [row(0)])
    orphan = write_part(store, "r1", "sts", "es", 0, [row(1, language="es")])  # written, never committed
    failed = PartEntry(index=0, seed=2, requested=1, status=ShardStatus.FAILED, error="LLM call failed", path=orphan)
    manifest = Manifest(run_id="r1", shards={"sts/en": shard("sts", "en", [complete_part(0, done, 1)]),
                                             "sts/es": shard("sts", "es", [failed], seed=2)})
    assert [e.status for e in manifest.shards.values()] == [ShardStatus.COMPLETE, ShardStatus.FAILED]
    save_manifest(store, manifest)
    frame = scan_run(store, "r1").collect()
    assert frame["language"].to_list() == ["en"]
    with pytest.raises(FileNotFoundError, match="no synthesis run 'nope'"):
        scan_run(store, "nope")


def test_a_part_written_but_never_committed_is_removed_before_the_next_writer_starts(tmp_path):
    store = open_store(f"file://{tmp_path}")
    done = write_part(store, "r1", "sts", "en", 0, [row(0)])
    orphan = write_part(store, "r1", "sts", "en", 1, [row(1)])  # the process died before its commit
    manifest = Manifest(run_id="r1", shards={"sts/en": ShardEntry(task_type="sts", language="en", seed=1, requested=2, parts=[
        PartEntry(index=0, seed=1, requested=1, status=ShardStatus.COMPLETE, rows=1, path=done),
        PartEntry(index=1, seed=2, requested=1)])})
    save_manifest(store, manifest)
    assert pl.read_parquet(str(tmp_path / "runs/r1/data/**/*.parquet")).height == 2  # what a glob would read
    assert remove_uncommitted(store, manifest) == [orphan]
    assert pl.read_parquet(str(tmp_path / "runs/r1/data/**/*.parquet")).height == 1 == scan_run(store, "r1").collect().height
