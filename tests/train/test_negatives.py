"""Several hard negatives per query: read from rows, batched with equal counts, and all used by the loss."""

from __future__ import annotations

import polars as pl
import pytest
import torch

from tasks.train.data import Pair, batch_schedule, local_slice, pairs_digest, to_pairs
from tasks.train.info_nce import global_info_nce_loss, info_nce_loss
from tasks.train.session import ProcessGroupSession
from tasks.train.standalone import read_pairs, write_pairs
from tests.train.tiny import save_tiny_base


def _frame(**extra) -> pl.DataFrame:
    return pl.DataFrame({"task": ["t", "t"], "query": ["q0", "q1"], "positive": ["p0", "p1"], "negative": ["n0", None],
                         "task_type": ["retrieval", "short_short"], **extra})


def test_a_rows_negatives_are_its_own_then_mined_ones_capped_per_query():
    mined = _frame(mined_negatives=[["m0", "n0", "p0", "m0b", "m0c"], ["m1"]])  # its own again, its positive: skipped
    assert [p.negatives for p in to_pairs(mined, negatives_per_query=3)] == [("n0", "m0", "m0b"), ("m1",)]
    assert [p.negatives for p in to_pairs(mined)] == [("n0",), ("m1",)]  # default 1: one each
    assert [p.negatives for p in to_pairs(mined, negatives_per_query=0)] == [(), ()]
    # Without the column (every run today) the default reads as before: the row's own negative or none.
    assert [p.negatives for p in to_pairs(_frame(), negatives_per_query=5)] == [("n0",), ()]


def test_old_one_negative_pairs_still_read_and_hash_as_before(tmp_path):
    old = tmp_path / "old.jsonl"
    old.write_text('{"query": "q", "positive": "p", "negative": "n", "task_type": null}\n'
                   '{"query": "r", "positive": "s", "negative": null}\n')
    assert read_pairs(old) == [Pair("q", "p", ("n",)), Pair("r", "s", ())]
    several = [Pair("q", "p", ("n1", "n2"))]
    assert read_pairs(write_pairs(several, tmp_path / "new.jsonl")) == several
    # The digest of one-negative data is what checkpoints stored before: a resume of an old run still matches.
    import hashlib
    import json
    expected = hashlib.sha256(json.dumps(["q", "p", "n", None]).encode() + b"\n").hexdigest()
    assert pairs_digest([Pair("q", "p", "n")]) == expected != pairs_digest([Pair("q", "p", ("n", "m"))])


def _assert_no_false_negatives(batch: list[Pair]) -> None:
    documents = [d for p in batch for d in p.documents]
    assert len({p.query for p in batch}) == len(batch), [p.query for p in batch]
    assert len(set(documents)) == len(documents), documents


@pytest.mark.parametrize("seed", range(4))
def test_batches_hold_one_negative_count_and_never_a_document_twice(seed):
    # Given pairs with 0 to 3 negatives, some negatives shared between pairs and one pair's positive
    # another's negative ...
    pairs = [Pair(f"q{k}-{i}", f"p{k}-{i}", tuple(f"n{k}-{i}-{j}" for j in range(k))) for k in range(4) for i in range(9)]
    pairs += [Pair(f"s{i}", f"sp{i}", ("shared negative", f"own{i}")) for i in range(6)]
    pairs += [Pair("x", "p2-0", ("xn1", "xn2")), Pair("y", "yp", ("p3-1", "yn"))]
    # ... when a long schedule is cut from them, then every batch holds one negative count (equal document
    # counts on every worker) and no query or document twice, and every count is trained.
    schedule = batch_schedule(pairs, batch_size=4, steps=120, seed=seed)
    assert all(len(batch) == 4 and len({len(p.negatives) for p in batch}) == 1 for batch in schedule)
    for batch in schedule:
        _assert_no_false_negatives(batch)
    assert {len(batch[0].negatives) for batch in schedule} == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="has its positive as its hard negative"):
        batch_schedule(pairs + [Pair("bad", "same", ("other", "same"))], batch_size=4, steps=1, seed=0)


def test_the_loss_scores_every_negative_of_every_query():
    # Two queries with two negatives each, laid out as the loop lays them out: positives, then negatives.
    batch = [Pair("a", "pa", ("na1", "na2")), Pair("b", "pb", ("nb1", "nb2"))]
    texts = [p.positive for p in batch] + [n for p in batch for n in p.negatives]
    assert texts == ["pa", "pb", "na1", "na2", "nb1", "nb2"]
    torch.manual_seed(0)
    q, d = torch.randn(2, 8), torch.randn(6, 8)
    expected = torch.nn.functional.cross_entropy(
        torch.nn.functional.normalize(q) @ torch.nn.functional.normalize(d).T / 0.02, torch.arange(2))
    assert torch.allclose(info_nce_loss(q, d), expected)
    for row in range(2, 6):  # moving any one negative changes the loss: all of them are in the denominator
        moved = d.clone()
        moved[row] = q[row % 2]
        assert not torch.allclose(global_info_nce_loss(q, moved), info_nce_loss(q, d))


def test_the_training_loop_embeds_all_negatives_of_a_batch(tmp_path, monkeypatch):
    from tasks.train import loop
    from tasks.train.config import TrainConfig

    shapes = []

    def recording(q, d, **kwargs):  # the real loss, its input shapes recorded
        shapes.append((q.shape[0], d.shape[0]))
        return global_info_nce_loss(q, d, **kwargs)

    monkeypatch.setattr(loop, "global_info_nce_loss", recording)
    base = save_tiny_base(tmp_path / "base")
    pairs = [Pair(f"Instruct: t\nQuery: question {i}", f"passage {i}", (f"wrong {i}", f"other {i}", f"far {i}"))
             for i in range(8)]
    config = TrainConfig(data=["unused"], base_model=str(base), out=f"file://{tmp_path}/out", batch_size=4,
                         mini_batch_size=8, steps=2, warmup_steps=0, max_length=16, lora_rank=2, checkpoint_every=5,
                         negatives_per_query=3)
    session = ProcessGroupSession(tmp_path / "checkpoints", on_metrics=None)
    session.finish = lambda *args: None  # nothing to publish
    loop.train_loop({**config.to_dict(), "_base_path": str(base)}, session, pairs)
    assert shapes == [(4, 4 + 4 * 3)] * 2
    assert local_slice(pairs[:4], 1, 2) == pairs[2:4]
