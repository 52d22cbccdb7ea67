"""Soak: a larger run under random faults (bounded: ~1,500 requests, a few minutes), then
retries until complete. Run with `make soak`."""

from __future__ import annotations

import random
import threading

import pytest

from tasks.runs.manifest import ShardStatus, load_manifest
from tasks.runs.parts import scan_run
from tasks.storage.store import open_store
from tests.support.fake_openai import FakeOpenAI
from tests.support.ledger_files import ledger_records
from tests.support.synthembed_cli import assert_rows_are_valid, run_cli, synthesize_argv

pytestmark = pytest.mark.soak


class RandomFaults:
    """Seeded: 5 % each of 429, 500, malformed, wrong keys; 1 % stalls."""

    def __init__(self, seed: int, rate: float = 0.05):
        self.rng, self.rate, self.lock = random.Random(seed), rate, threading.Lock()

    def __call__(self, n: int, prompt: str) -> str:
        with self.lock:
            x = self.rng.random()
        for kind, share in (("429", 1), ("500", 1), ("malformed", 1), ("wrong_keys", 1), ("stall", 0.2)):
            if x < self.rate * share:
                return kind
            x -= self.rate * share
        return "ok"


def test_random_faults_never_store_invalid_rows_and_retries_converge(prefect_api, tmp_path):
    store_url = f"file://{tmp_path}"
    extra = ["--languages", "en,es,de,fr,ja,sw", "--task-types", "all", "--examples-per-shard", "25",
             "--run-id", "soak", "--concurrency", "16", "--shard-concurrency", "8", "--shard-retries", "0",
             "--max-retries", "2"]
    with FakeOpenAI(policy=RandomFaults(seed=7), retry_after_s=0.05, stall_s=1.2) as server:
        first = run_cli(synthesize_argv(server, store_url, *extra))
        assert first.returncode in (0, 1), first.stderr[-2000:]
        committed_first = set(scan_run(open_store(store_url), "soak", filtered=False).collect()["example_id"])
        for _ in range(8):  # retries until every shard is complete (bounded)
            manifest = load_manifest(open_store(store_url), "soak")
            if not manifest.unfinished():
                break
            run_cli(["retry", "--run-id", "soak", "--store", store_url])
    assert len(server.requests) < 5000
    manifest = load_manifest(open_store(store_url), "soak")
    assert all(e.status is ShardStatus.COMPLETE for e in manifest.shards.values())
    frame = scan_run(open_store(store_url), "soak", filtered=False).collect()
    assert frame.height == manifest.total_rows() > 0.8 * 36 * 25
    assert frame["example_id"].n_unique() == frame.height
    assert_rows_are_valid(frame)
    # Nothing paid twice: every answer the server gave ("ok", malformed, wrong keys) is in the ledger once.
    answered = sum(server.count(kind) for kind in ("ok", "malformed", "wrong_keys"))
    keys = {r["key"] for r in ledger_records(tmp_path / "runs" / "soak")}
    faults = {kind: server.count(kind) for kind in ("429", "500", "malformed", "wrong_keys", "stall")}
    lost = committed_first - set(frame["example_id"])  # rows committed by the first run, gone later
    print(f"\nsoak: {len(server.requests)} requests, faults {faults}, {frame.height} rows written, "
          f"{len(lost)} rows lost, {answered - len(keys)} requests paid twice")
    assert answered == len(keys) and not lost
