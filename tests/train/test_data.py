"""Training data: run URLs, the E5 query format, mixing, and a batch schedule every worker shares."""

from __future__ import annotations

import pytest

from tasks.storage.manifest import Manifest, ShardEntry, ShardStatus, save_manifest
from tasks.storage.shards import write_part
from tasks.storage.store import open_store
from tasks.train.config import TrainConfig
from tasks.train.data import Pair, batch_schedule, load_pairs, local_slice, split_run_url
from tasks.train.loop import warmup_then_linear
from tests.storage.test_local_store import _row


def _run(tmp_path, run_id: str, n: int, negative: bool = True) -> str:
    store = open_store(f"file://{tmp_path}")
    rows = [{**_row(i), "task": "Find answers.", "negative": f"n{i}" if negative else None} for i in range(n)]
    path = write_part(store, run_id, "sts", "en", 0, rows)
    save_manifest(store, Manifest(run_id=run_id, shards={"sts/en": ShardEntry(
        task_type="sts", language="en", seed=1, requested=n, status=ShardStatus.COMPLETE, rows=n, path=path)}))
    return f"file://{tmp_path}/runs/{run_id}"


def test_run_urls_split_into_store_and_run_id():
    assert split_run_url("s3://b/prefix/runs/r1") == ("s3://b/prefix", "r1")
    assert split_run_url("file:///data/runs/r1/data/") == ("file:///data", "r1")
    with pytest.raises(ValueError, match="not a synthesis run URL"):
        split_run_url("s3://b/prefix")


def test_queries_get_the_instruction_and_documents_stay_bare(tmp_path):
    [pair, *_] = load_pairs([_run(tmp_path, "r1", 3)])
    assert pair == Pair("Instruct: Find answers.\nQuery: q0", "p", "n0")


def test_mixing_follows_the_weights(tmp_path):
    a, b = _run(tmp_path, "a", 10), _run(tmp_path, "b", 10)
    pairs = load_pairs([a, b], weights=[3, 1], seed=0)
    assert len(pairs) == 20
    assert sum(p.negative.startswith("n") for p in pairs) == 20 and len({p.query for p in pairs}) <= 10


def test_the_schedule_is_deterministic_homogeneous_and_cycles(tmp_path):
    pairs = [Pair(f"q{i}", f"p{i}", f"n{i}" if i < 6 else None) for i in range(10)]
    schedule = batch_schedule(pairs, batch_size=4, steps=7, seed=3)
    assert schedule == batch_schedule(pairs, batch_size=4, steps=7, seed=3)
    assert len(schedule) == 7 and all(len(b) == 4 for b in schedule)
    assert all(len({p.negative is None for p in b}) == 1 for b in schedule)  # equal shapes on every rank
    assert local_slice(schedule[0], 1, 2) == schedule[0][2:4]
    with pytest.raises(ValueError, match="lower --batch-size"):
        batch_schedule(pairs[:3], batch_size=4, steps=1, seed=0)


def test_empty_or_missing_runs_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="no synthesis run 'nope'"):
        load_pairs([f"file://{tmp_path}/runs/nope"])
    save_manifest(open_store(f"file://{tmp_path}"), Manifest(run_id="empty"))
    with pytest.raises(ValueError, match="no training rows"):
        load_pairs([f"file://{tmp_path}/runs/empty"])


def test_config_makes_local_urls_absolute_and_rejects_bad_sizes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = TrainConfig(data=["file://./data/runs/r1"], base_model="m", out="models/m1")
    assert config.data == [f"file://{tmp_path}/data/runs/r1"] and config.out == f"file://{tmp_path}/models/m1"
    with pytest.raises(ValueError, match="divide evenly over 3 workers"):
        TrainConfig(data=["x/runs/r"], base_model="m", out="o", batch_size=8, num_workers=3).validate()


def test_learning_rate_warms_up_then_decays_to_zero():
    factor = warmup_then_linear(warmup_steps=2, total_steps=6)
    assert [round(factor(s), 3) for s in range(7)] == [0.5, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
