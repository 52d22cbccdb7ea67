"""The run manifest on a file:// store: planned once, resumed only with the same parameters, and a
version-1 manifest (one file per shard) still read as shards of one part."""

from __future__ import annotations

import pytest

from tasks.runs.manifest import (
    MANIFEST_VERSION,
    ParameterMismatch,
    ShardStatus,
    check_same_run,
    load_manifest,
    manifest_path,
    save_manifest,
)
from tasks.runs.parts import scan_run, write_part
from tasks.storage.store import open_store
from tasks.synth.config import SynthesisConfig
from tasks.synth.run import prepare_run
from tests.support.runs import row

LLM = {"base_url": "http://127.0.0.1:1/v1", "model": "m"}


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


def test_a_version_1_manifest_reads_as_shards_of_one_part(tmp_path):
    store = open_store(f"file://{tmp_path}")
    path = write_part(store, "old", "sts", "en", 0, [row(0), row(1)])
    store.write_json(manifest_path(store, "old"), {"version": 1, "run_id": "old", "shards": {"sts/en": {
        "task_type": "sts", "language": "en", "seed": 1, "requested": 2, "status": "complete", "rows": 2,
        "path": path, "usage": {"calls": 2}}}})  # what version 1 wrote: one file per shard, no parts
    manifest = load_manifest(store, "old")
    [part] = manifest.shards["sts/en"].parts
    assert (part.index, part.status, part.rows, part.path, part.usage) == (0, ShardStatus.COMPLETE, 2, path, {"calls": 2})
    assert manifest.total_rows() == 2 == scan_run(store, "old").collect().height
    assert MANIFEST_VERSION == 2
