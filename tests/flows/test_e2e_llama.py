"""End to end: the CLI starts the embedded llama.cpp server (Qwen2.5-Coder-0.5B) and writes a
real dataset; a lost part is redone on resume — from the request ledger, without asking the
LLM again — while the others are skipped.

Slow (several minutes on 2 cores): 2 languages × 6 task types × 2 examples.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tasks.runs.manifest import ShardStatus, load_manifest, save_manifest
from tasks.runs.parts import scan_run
from tasks.runs.schema import TaskType
from tasks.storage.store import open_store
from tasks.synth.config import SynthesisConfig
from tasks.synth.parsing import parse_example
from tests.support.synthembed_cli import E2E_LENGTHS

pytestmark = pytest.mark.e2e


def _synthesize(store_url: str) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "synthembed"), "synthesize", "--languages", "en,es",
               "--task-types", "all", "--examples-per-shard", "2", "--store", store_url, "--run-id", "e2e",
               *E2E_LENGTHS]
    return subprocess.run(command, capture_output=True, text=True, timeout=1500)


def test_embedded_llm_writes_valid_parquet_and_resume_redoes_only_lost_shards(real_run):
    store_url, _, first = real_run
    tmp_path = store_url.removeprefix("file://")
    assert "started the embedded LLM server at http://127.0.0.1:" in first.stderr

    store = open_store(store_url)
    manifest = load_manifest(store, "e2e")
    assert len(manifest.shards) == 12
    complete = [e for e in manifest.shards.values() if e.status is ShardStatus.COMPLETE]
    assert len(complete) >= 10, {k: e.error for k, e in manifest.shards.items()}
    files = sorted(Path(tmp_path, "runs/e2e/data").rglob("*.parquet"))
    frame = pl.read_parquet(files)  # plain polars reads every file the run wrote
    assert frame.height == manifest.total_rows() >= 8
    assert frame["example_id"].n_unique() == frame.height
    assert {"task_type", "language", "task", "query", "positive", "negative", "model", "template_id"} <= set(frame.columns)
    assert set(frame["language"]) == {"en", "es"} and len(set(frame["task_type"])) >= 4
    checks = SynthesisConfig.model_validate(manifest.config).checks  # the run's own length leeway
    for row in frame.iter_rows(named=True):
        parse_example(TaskType(row["task_type"]), row["raw"], row["language"], json.loads(row["placeholders"]), checks)
    assert all(e.usage["completion_tokens"] > 0 for e in complete)

    # Lose one committed part (as if its commit never happened) and resume the same run.
    lost = next(e for e in complete if e.rows > 0)
    part = lost.parts[0]
    rows_before = pl.read_parquet(part.path)
    Path(part.path).unlink()
    manifest.shards[lost.key] = lost.with_part(part.model_copy(update={"status": ShardStatus.FAILED, "error": "lost in test"}))
    save_manifest(store, manifest)
    others = {k: e.model_dump() for k, e in manifest.shards.items() if k != lost.key and e.status is ShardStatus.COMPLETE}

    second = _synthesize(store_url)
    assert second.returncode in (0, 1, 3), second.stderr[-3000:]
    after = load_manifest(store, "e2e")
    redone = after.shards[lost.key].parts[0]
    assert after.shards[lost.key].status is ShardStatus.COMPLETE and redone.attempts == part.attempts + 1
    assert redone.reused == int(part.usage["calls"]) and redone.usage == part.usage  # every answer from the ledger
    assert pl.read_parquet(redone.path).equals(rows_before)
    assert {k: after.shards[k].model_dump() for k in others} == others  # done shards skipped, untouched
    assert scan_run(store, "e2e", filtered=False).collect().height == after.total_rows()
