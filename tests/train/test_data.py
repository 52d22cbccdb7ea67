"""Training data: run URLs, the E5 query format, mixing, and a batch schedule every worker shares."""

from __future__ import annotations

from collections import Counter

import pytest

from tasks.runs.manifest import Manifest, save_manifest
from tasks.storage.store import open_store
from tasks.train.config import TrainConfig
from tasks.train.data import Pair, batch_schedule, load_pairs, local_slice, split_run_url
from tasks.train.schedule import LRSchedule
from tests.support.runs import training_run


def test_run_urls_split_into_store_and_run_id():
    assert split_run_url("s3://b/prefix/runs/r1") == ("s3://b/prefix", "r1")
    assert split_run_url("file:///data/runs/r1/data/") == ("file:///data", "r1")
    with pytest.raises(ValueError, match="not a synthesis run URL"):
        split_run_url("s3://b/prefix")


def test_queries_get_the_instruction_and_documents_stay_bare(tmp_path):
    [pair, *_] = load_pairs([training_run(tmp_path, "r1", 3)])
    assert pair == Pair("Instruct: Find answers.\nQuery: q0", "r1-p0", "r1-n0", task_type="sts")
    assert Pair("q", "p", None).task_type is None  # three-field construction still works


def test_mixing_follows_the_weights(tmp_path):
    a, b = training_run(tmp_path, "a", 10), training_run(tmp_path, "b", 10)
    pairs = load_pairs([a, b], weights=[3, 1], seed=0)
    assert len(pairs) == 20
    assert sum(p.positive.startswith("a-") for p in pairs) == 15  # 15 of run a's 10 rows: with replacement
    assert len({p.positive for p in pairs if p.positive.startswith("a-")}) <= 10


def test_the_schedule_is_deterministic_homogeneous_and_cycles(tmp_path):
    pairs = [Pair(f"q{i}", f"p{i}", f"n{i}" if i < 6 else None) for i in range(10)]
    schedule = batch_schedule(pairs, batch_size=4, steps=7, seed=3)
    assert schedule == batch_schedule(pairs, batch_size=4, steps=7, seed=3)
    assert len(schedule) == 7 and all(len(b) == 4 for b in schedule)
    assert all(len({len(p.negatives) for p in b}) == 1 for b in schedule)  # equal shapes on every rank
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
    factor = LRSchedule.warmup_then_linear(warmup_steps=2, total_steps=6)
    assert [round(factor(s), 3) for s in range(7)] == [0.5, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]


def _assert_no_false_negatives(batch: list[Pair]) -> None:
    """Distinct queries, and no document text twice among the batch's positives and hard negatives."""
    documents = [d for p in batch for d in p.documents]  # every hard negative (tests/train/test_negatives.py)
    assert len({p.query for p in batch}) == len(batch), [p.query for p in batch]
    assert len(set(documents)) == len(documents), documents


def test_mixing_with_replacement_never_puts_a_copy_in_the_same_batch(tmp_path):
    # Given run a weighted 3:1, so its 10 rows are drawn 15 times (copies of the same pair) ...
    pairs = load_pairs([training_run(tmp_path, "a", 10), training_run(tmp_path, "b", 10)], weights=[3, 1], seed=0)
    assert len(set(pairs)) < len(pairs)
    # ... when 200 batches are cut from them, then no batch holds a query or a document twice.
    schedule = batch_schedule(pairs, batch_size=4, steps=200, seed=0)
    assert len(schedule) == 200 and all(len(b) == 4 for b in schedule)
    for batch in schedule:
        _assert_no_false_negatives(batch)


@pytest.mark.parametrize("seed", range(5))
def test_the_remainder_of_an_epoch_rolls_into_the_next_instead_of_being_dropped(seed):
    # 10 pairs in batches of 4: each epoch leaves 2 over; 5 batches hold every pair exactly twice.
    pairs = [Pair(f"q{i}", f"p{i}", None) for i in range(10)]
    schedule = batch_schedule(pairs, batch_size=4, steps=5, seed=seed)
    assert Counter(p for b in schedule for p in b) == {p: 2 for p in pairs}


def test_the_schedule_of_fewer_steps_is_a_prefix_of_a_longer_one():
    pairs = [Pair(f"q{i}", f"p{i % 7}", f"n{i}") for i in range(30)]  # positives shared by up to 5 queries
    assert batch_schedule(pairs, 4, 10, seed=2) == batch_schedule(pairs, 4, 50, seed=2)[:10]


def test_pairs_sharing_documents_still_fill_batches_without_a_duplicate():
    # 20 queries share one positive, 10 share one hard negative, and one pair's positive is another's hard
    # negative: at most one of each kind fits a batch, but there are enough others to fill every batch.
    shared = [Pair(f"s{i}", "the shared passage", f"sn{i}") for i in range(20)]
    common = [Pair(f"c{i}", f"cp{i}", "the common negative") for i in range(10)]
    crossed = [Pair("x", "doc-x", "cp0"), Pair("y", "doc-y", "doc-x")]
    distinct = [Pair(f"d{i}", f"dp{i}", f"dn{i}") for i in range(12)]
    schedule = batch_schedule(shared + common + crossed + distinct, batch_size=4, steps=100, seed=1)
    assert all(len(b) == 4 for b in schedule)
    for batch in schedule:
        _assert_no_false_negatives(batch)
    placed = {p for b in schedule for p in b}
    assert set(crossed) <= placed and len(placed & set(shared)) > 10  # deferred, not dropped


@pytest.mark.parametrize("pairs", [
    [Pair(f"q{i}", f"p{i}", "one negative for all") for i in range(10)],  # 10 pairs, 1 fits a batch
    [Pair(f"q{i}", f"p{i % 3}", None) for i in range(10)],  # 3 distinct positives for a batch of 4
    [Pair("same query", f"p{i}", None) for i in range(10)],
])
def test_too_few_distinct_documents_for_one_batch_is_a_clear_error(pairs):
    with pytest.raises(ValueError, match=r"no group 4 pairs with distinct queries and documents \(found at most "
                                         r"\d\); lower --batch-size"):
        batch_schedule(pairs, batch_size=4, steps=1, seed=0)


def test_a_pair_whose_hard_negative_is_its_positive_is_rejected():
    pairs = [Pair(f"q{i}", f"p{i}", f"n{i}") for i in range(5)] + [Pair("bad", "same", "same")]
    with pytest.raises(ValueError, match="'bad' has its positive as its hard negative"):
        batch_schedule(pairs, batch_size=2, steps=1, seed=0)


@pytest.mark.parametrize("seed", range(20))
def test_a_batch_is_found_even_when_the_shuffled_order_starts_with_a_pair_that_blocks_all(seed):
    # "c" shares a document with both "a" and "b": the only batch of 2 is {a, b}, which a greedy pass
    # that takes "c" first never builds.
    a, b, c = Pair("a", "x", "na"), Pair("b", "y", "nb"), Pair("c", "x", "y")
    schedule = batch_schedule([c, a, b], batch_size=2, steps=6, seed=seed)
    assert all(sorted(p.query for p in batch) == ["a", "b"] for batch in schedule)


def test_same_task_type_batches_hold_one_task_type_each():
    types = {"retrieval": 9, "sts": 8, "bitext": 3}  # bitext cannot fill a batch of 4: left out
    pairs = [Pair(f"{t}{i}", f"{t}-p{i}", f"{t}-n{i}" if i % 2 == 0 else None, task_type=t)
             for t, n in types.items() for i in range(n)]
    schedule = batch_schedule(pairs, batch_size=2, steps=60, seed=0, same_task_type=True)
    assert all(len({(p.task_type, p.negative is None) for p in b}) == 1 for b in schedule)
    assert {p.task_type for b in schedule for p in b} == {"retrieval", "sts", "bitext"}
    assert schedule == batch_schedule(pairs, batch_size=2, steps=60, seed=0, same_task_type=True)
    mixed = batch_schedule(pairs, batch_size=4, steps=60, seed=0)
    assert any(len({p.task_type for p in b}) > 1 for b in mixed)  # the default mixes task types
    by_type = batch_schedule(pairs, batch_size=4, steps=60, seed=0, same_task_type=True)
    assert {p.task_type for b in by_type for p in b} == {"retrieval", "sts"}
    assert all(len({p.task_type for p in b}) == 1 for b in by_type)
    with pytest.raises(ValueError, match="and by task type"):
        batch_schedule(pairs, batch_size=6, steps=1, seed=0, same_task_type=True)
