"""Held-out rows, the held-out loss and accuracy per evaluation, early stopping, and --epochs."""

from __future__ import annotations

import json
import math
import os
from functools import partial
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from transformers import AutoTokenizer

from flows.cli import build_parser, train_command
from infra.services.process import free_port
from tasks.train.config import TrainConfig
from tasks.train.data import Pair, TrainingPairs, load_split
from tasks.train.heldout import EarlyStopping, heldout_metrics
from tasks.train.loop import train_loop
from tasks.train.preflight import check_training_inputs, steps_for_epochs
from tasks.train.session import ProcessGroupSession
from tasks.train.text import tokenize_with_eos
from tests.support.runs import training_run
from tests.train.tiny import save_tiny_base

TRAIN = [Pair(f"Instruct: t\nQuery: topic {i}", f"fact {i}") for i in range(16)]
# Held-out rows that contradict training: the same queries, whose positives are other texts and whose
# negatives are exactly what training pulls the queries towards. The better training fits, the worse they score.
CONTRADICTING = [Pair(f"Instruct: t\nQuery: topic {i}", f"other {i}", (f"fact {i}",)) for i in range(8)]


class Unpublished(ProcessGroupSession):
    def finish(self, model, tokenizer, config) -> None:  # the test inspects the returned model instead
        pass


def _config(tmp_path, base, **overrides) -> dict:
    values = dict(data=["unused"], base_model=str(base), out=f"file://{tmp_path}/out", batch_size=4, mini_batch_size=8,
                  steps=40, warmup_steps=0, learning_rate=5e-3, max_length=16, lora_rank=4, checkpoint_every=100,
                  eval_every=1, early_stop_patience=3)
    config = TrainConfig(**(values | overrides))
    return {**config.to_dict(), "_base_path": str(base)}


def _heldout_loss(model, base, pairs) -> float:
    tokenizer = AutoTokenizer.from_pretrained(base)
    model.eval()
    with torch.no_grad():
        embed = lambda texts: model(**tokenize_with_eos(tokenizer, texts, 16))  # noqa: E731
        return heldout_metrics(embed, pairs, batch_size=4, temperature=0.02)["heldout_loss"]


def test_training_stops_when_the_heldout_loss_rises_and_keeps_the_best_weights(tmp_path):
    base = save_tiny_base(tmp_path / "base")
    metrics: list[dict] = []
    session = partial(Unpublished, tmp_path / "checkpoints", on_metrics=metrics.append)
    model = train_loop(_config(tmp_path, base), session(), TrainingPairs(TRAIN, CONTRADICTING))

    evaluated = [m for m in metrics if "heldout_loss" in m]
    assert evaluated == metrics and all(0 <= m["heldout_accuracy"] <= 1 for m in metrics)  # eval_every 1
    best = min(evaluated, key=lambda m: m["heldout_loss"])
    stopped = metrics[-1]["step"]
    assert stopped < 40, [round(m["heldout_loss"], 3) for m in metrics]  # stopped early ...
    assert stopped == best["step"] + 3  # ... three evaluations after the best, not before
    assert all(m["heldout_loss"] >= best["heldout_loss"] for m in metrics[-3:])
    # The model handed to publishing holds the best weights, not the last.
    assert _heldout_loss(model, base, CONTRADICTING) == pytest.approx(best["heldout_loss"], rel=1e-4)
    # The stop step wrote a checkpoint with the early-stopping state: a resume trains nothing more.
    assert [p.name for p in session().checkpoints()] == [f"checkpoint_{stopped:08d}"]
    train_loop(_config(tmp_path, base), session(), TrainingPairs(TRAIN, CONTRADICTING))
    assert metrics[-1]["step"] == stopped


def _worker(rank: int, port: int, tmp: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        tmp_path, steps = Path(tmp), []
        session = Unpublished(tmp_path / f"checkpoints{rank}", on_metrics=None)
        session.report = lambda metrics, checkpoint=None: steps.append(metrics)  # every rank's own record
        train_loop(_config(tmp_path, tmp_path / "base", num_workers=2), session, TrainingPairs(TRAIN, CONTRADICTING))
        (tmp_path / f"rank{rank}.json").write_text(json.dumps(steps))
    finally:
        dist.destroy_process_group()


def test_two_workers_stop_at_the_same_step(tmp_path):
    save_tiny_base(tmp_path / "base")
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(Path(__file__).resolve().parents[2]))  # spawned workers import this module
        mp.spawn(_worker, args=(free_port(), str(tmp_path)), nprocs=2, join=True)
    first, second = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2))
    assert len(first) == len(second) < 40  # the same number of reports (Ray needs it), and an early stop
    assert [m["heldout_loss"] for m in first] == [m["heldout_loss"] for m in second]  # all-reduced: identical


def test_without_patience_every_step_trains_and_the_heldout_loss_is_logged_every_n_steps(tmp_path):
    base = save_tiny_base(tmp_path / "base")
    metrics: list[dict] = []
    session = Unpublished(tmp_path / "checkpoints", on_metrics=metrics.append)
    config = _config(tmp_path, base, steps=5, early_stop_patience=None, eval_every=2)
    model = train_loop(config, session, TrainingPairs(TRAIN, CONTRADICTING))
    assert [m["step"] for m in metrics] == [1, 2, 3, 4, 5]
    assert [m["step"] for m in metrics if "heldout_loss" in m] == [2, 4, 5]  # every 2 steps, and the last
    assert _heldout_loss(model, base, CONTRADICTING) == pytest.approx(metrics[-1]["heldout_loss"], rel=1e-4)  # the last


def test_ranks_scoring_their_chunks_add_up_to_the_whole():
    torch.manual_seed(0)
    table: dict[str, torch.Tensor] = {}

    def embed(texts):  # a fixed random embedding per text
        return torch.stack([table.setdefault(t, torch.randn(8)) for t in texts])

    pairs = [Pair(f"q{i}", f"p{i}", (f"n{i}",)) for i in range(12)]
    whole = heldout_metrics(embed, pairs, batch_size=4, temperature=0.5)
    parts = [heldout_metrics(embed, pairs, batch_size=4, temperature=0.5, rank=r, world_size=2) for r in range(2)]
    # Outside a process group the all-reduce is the identity: each rank's sums are its share of the whole.
    assert sum(p["heldout_loss"] for p in parts) == pytest.approx(whole["heldout_loss"])
    assert sum(p["heldout_accuracy"] for p in parts) == pytest.approx(whole["heldout_accuracy"])
    assert heldout_metrics(lambda texts: embed([t.replace("p", "q") for t in texts]), pairs, 4, 0.5)[
        "heldout_accuracy"] == 1.0  # each query equals its positive: top-1 everywhere


def test_the_early_stopping_state_survives_a_checkpoint(tmp_path):
    stopping = EarlyStopping(patience=2)
    stopping.update(1.5, 3, lambda: {"w": torch.ones(2)})
    stopping.update(1.7, 4, lambda: {"w": torch.zeros(2)})
    stopping.save(tmp_path)
    loaded = EarlyStopping.load(tmp_path, patience=2)
    assert (loaded.best_loss, loaded.best_step, loaded.evaluations_since_best) == (1.5, 3, 1)
    assert torch.equal(loaded.best_weights["w"], torch.ones(2)) and not loaded.stop
    assert EarlyStopping.load(None, 2).best_loss == math.inf and EarlyStopping.load(tmp_path / "old", 2).best_weights is None


def test_rows_are_held_out_by_default_from_twenty_and_never_trained_on(tmp_path):
    small, large = training_run(tmp_path, "small", 19), training_run(tmp_path, "large", 40)
    assert load_split([small]).heldout == [] and len(load_split([small], holdout_fraction=None).heldout) == 0
    split = load_split([large], weights=None, seed=1, holdout_fraction=None)
    assert len(split.heldout) == 4 and len(split.train) == 36
    assert {p.query for p in split.train}.isdisjoint(p.query for p in split.heldout)
    mixed = load_split([large, small], weights=[5, 1], seed=1, holdout_fraction=0.25)  # copies made after the split
    assert {p.query for p in mixed.train}.isdisjoint(p.query for p in mixed.heldout)


def test_epochs_become_steps_and_patience_needs_heldout_rows(tmp_path):
    base = save_tiny_base(tmp_path / "base")
    config = TrainConfig(data=[training_run(tmp_path, "r1", 40)], base_model=str(base), out=f"file://{tmp_path}/o",
                         batch_size=4, epochs=2.5)
    assert check_training_inputs(config) == 36 and config.steps == steps_for_epochs(2.5, 36, 4) == 23
    refused = TrainConfig(data=config.data, base_model=str(base), out=config.out, batch_size=4, holdout_fraction=0,
                          early_stop_patience=2)
    with pytest.raises(ValueError, match="early_stop_patience needs held-out rows"):
        check_training_inputs(refused)


def test_the_flags_reach_the_config_and_bad_values_are_one_error(monkeypatch, capsys):
    seen = []

    def capture(config, resume=False):
        seen.append(config)
        raise ValueError("stop here")

    monkeypatch.setattr("tasks.train.preflight.check_training_inputs", capture)
    args = ["train", "--data", "file:///nowhere/runs/r1", "--out", "file:///tmp/o"]
    flags = ["--epochs", "3", "--holdout-fraction", "0.2", "--eval-every", "5", "--early-stop-patience", "4",
             "--negatives-per-query", "3", "--labelled-instruction", "Find it."]
    assert train_command(build_parser().parse_args(args + flags)) == 2
    config = seen[0]
    assert (config.epochs, config.holdout_fraction, config.eval_every, config.early_stop_patience,
            config.negatives_per_query, config.labelled_instruction) == (3.0, 0.2, 5, 4, 3, "Find it.")
    monkeypatch.undo()  # the real checks: they validate the values before any data is read
    capsys.readouterr()
    for bad, message in [(["--holdout-fraction", "1"], "holdout_fraction must be at least 0 and below 1, got 1.0"),
                         (["--early-stop-patience", "0"], "early_stop_patience must be at least 1, got 0"),
                         (["--negatives-per-query", "-1"], "negatives_per_query must be at least 0, got -1"),
                         (["--data-weights", "1,x"], "--data-weights '1,x': give one number per --data source")]:
        assert train_command(build_parser().parse_args(args + bad)) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1, err
