"""Exact resume: a resume may not change what is trained, ``--extend-steps`` re-plans the decay,
and an interrupted run resumed from its checkpoint ends with the very weights of an
uninterrupted one — with the loop's pieces in one process (fast), and through Ray Train with
the real ``train_func`` and a lost worker (soak: `make soak`)."""

from __future__ import annotations

import itertools
import json
import random
import subprocess
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import pytest
import torch

from tasks.train.checkpoint import CONFIG_FILE, SCHEDULE_FILE, STATE_FILE, load_state, save_state, stored_schedule
from tasks.train.config import TrainConfig
from tasks.train.preflight import check_training_inputs, latest_checkpoint_config
from tasks.train.resume import FREE_FIELDS, compare_configs
from tasks.train.schedule import LRSchedule, extend_schedule
from tests.support.runs import training_run
from tests.train.tiny import save_tiny_base, tiny_llama

BASE = TrainConfig(data=["file:///d/runs/r1"], base_model="smollm2-135m", out="file:///o", steps=6)
# Fields that change what is trained: they must never become free (one not yet in TrainConfig is skipped).
RESULT_FIELDS = ["data", "data_weights", "base_model", "batch_size", "learning_rate", "warmup_steps",
                 "weight_decay", "temperature", "max_length", "lora_rank", "lora_alpha", "lora_dropout", "seed",
                 "query_instruction", "max_grad_norm", "false_negative_margin", "same_task_type_batches", "data_digest"]


def _changed(value):
    """A different value of the same kind."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 + 1
    if isinstance(value, str):
        return value + "-other"
    if isinstance(value, list):
        return [*value, "file:///d/runs/r2"]
    if isinstance(value, dict):
        return {**value, "note": "x"}
    return 0.05  # None: an option that was off


def _stored(**changes) -> dict:
    return {**BASE.to_dict(), **changes}


# compare_configs -------------------------------------------------------------------------------

# steps and data_digest have rules of their own (tested below)
@pytest.mark.parametrize("name", [f.name for f in fields(TrainConfig) if f.name not in FREE_FIELDS | {"steps", "data_digest"}])
def test_a_field_that_changes_the_result_is_refused_and_named_with_old_and_new(name):
    old = getattr(BASE, name)
    with pytest.raises(ValueError) as refused:
        compare_configs(_stored(**{name: _changed(old)}), BASE, extend_steps=True)
    assert f"  {name}: {_changed(old)!r} -> {old!r}" in str(refused.value)
    assert "another --out" in str(refused.value)


@pytest.mark.parametrize("name", RESULT_FIELDS)
def test_the_fields_that_change_the_result_are_not_free(name):
    if name not in {f.name for f in fields(TrainConfig)}:
        pytest.skip(f"{name} is not a TrainConfig field yet")
    assert name not in FREE_FIELDS


@pytest.mark.parametrize("name", sorted(FREE_FIELDS))
def test_a_free_field_may_change(name):
    stored = _stored(**{name: _changed(getattr(BASE, name))})
    assert [c.name for c in compare_configs(stored, BASE, extend_steps=False)] == [name]


def test_one_error_names_every_refused_field():
    stored = _stored(learning_rate=1e-3, seed=7, num_workers=2)
    with pytest.raises(ValueError) as refused:
        compare_configs(stored, BASE, extend_steps=False)
    message = str(refused.value)
    assert "learning_rate: 0.001 -> 0.0001" in message and "seed: 7 -> 0" in message
    assert "num_workers" not in message  # allowed


def test_steps_may_grow_only_with_extend_steps_and_never_shrink():
    longer = replace(BASE, steps=8)
    with pytest.raises(ValueError, match=r"steps: 6 -> 8 \(to train longer, add --extend-steps\)"):
        compare_configs(_stored(), longer, extend_steps=False)
    assert [(c.name, c.old, c.new) for c in compare_configs(_stored(), longer, extend_steps=True)] == [("steps", 6, 8)]
    with pytest.raises(ValueError, match="steps: 6 -> 4 .*cannot shrink"):
        compare_configs(_stored(), replace(BASE, steps=4), extend_steps=True)


def test_extend_steps_allows_nothing_else():
    with pytest.raises(ValueError) as refused:
        compare_configs(_stored(temperature=0.05), replace(BASE, steps=8), extend_steps=True)
    assert "temperature: 0.05 -> 0.02" in str(refused.value) and "steps" not in str(refused.value)


def test_an_older_checkpoint_compares_its_missing_fields_at_their_defaults():
    newer = {"extend_steps", "extra", "false_negative_margin", "same_task_type_batches", "mini_batch_tokens"}
    stored = {k: v for k, v in _stored().items() if k not in newer}
    stored["a_field_since_removed"] = 3  # ignored: the code no longer has it
    assert compare_configs(stored, BASE, extend_steps=False) == []
    with pytest.raises(ValueError, match="lora_rank: 16 -> 8"):  # what it does store still counts
        compare_configs(stored, replace(BASE, lora_rank=8), extend_steps=False)
    if "false_negative_margin" in {f.name for f in fields(TrainConfig)}:  # a new option switched on: refused
        with pytest.raises(ValueError, match="false_negative_margin: None -> 0.05"):
            compare_configs(stored, replace(BASE, false_negative_margin=0.05), extend_steps=False)


def warmup_then_linear(warmup_steps: int, total_steps: int):
    """The oracle: the LambdaLR lambda the loop used before plans were stored as data."""
    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return max(0.0, (total_steps - step) / max(1, total_steps - warmup_steps))
    return factor


# the learning-rate schedule and its extension ------------------------------------------------

@pytest.mark.parametrize("warmup, total", [(0, 5), (1, 6), (3, 10), (10, 4)])
def test_a_fresh_schedule_is_warm_up_then_linear_decay_on_every_trained_step(warmup, total):
    plan, expected = LRSchedule.warmup_then_linear(warmup, total), warmup_then_linear(warmup, total)
    assert [plan(s) for s in range(total)] == pytest.approx([expected(s) for s in range(total)])


@pytest.mark.parametrize("done", [6, 4])  # a finished run, and one stopped during its decay
def test_an_extended_decay_continues_from_the_last_step_down_to_zero_at_the_new_total(done):
    plan = LRSchedule.warmup_then_linear(warmup_steps=1, total_steps=6)
    longer = extend_schedule(plan, done_steps=done, total_steps=10)
    assert [longer(s) for s in range(done)] == pytest.approx([plan(s) for s in range(done)])  # the past stays
    factors = [longer(s) for s in range(done - 1, 11)]
    assert factors[0] == plan(done - 1) and factors[-1] == 0.0
    drops = [a - b for a, b in itertools.pairwise(factors)]
    assert all(d > 0 for d in drops) and drops == pytest.approx([drops[0]] * len(drops))  # one straight line
    assert longer(10 - 1) > 0  # every new step still trains
    assert extend_schedule(longer, done_steps=8, total_steps=10) is longer  # a restart within the extended run
    again = extend_schedule(longer, done_steps=10, total_steps=12)  # extended twice: both kinks kept
    assert [again(s) for s in range(10)] == pytest.approx([longer(s) for s in range(10)]) and again(12) == 0.0


def test_a_run_stopped_while_warming_up_gets_the_plan_of_the_longer_run():
    plan = LRSchedule.warmup_then_linear(warmup_steps=4, total_steps=6)
    assert extend_schedule(plan, done_steps=3, total_steps=12) == LRSchedule.warmup_then_linear(4, 12)
    with pytest.raises(ValueError, match="cannot shorten"):
        extend_schedule(plan, done_steps=3, total_steps=5)


# the checkpoint ------------------------------------------------------------------------------

def _fresh_training(tokenizer):
    """What train_func builds before its checkpoint block: seed, LoRA model (dropout draws random numbers), AdamW."""
    from tasks.train.model import EmbeddingModel, apply_lora

    torch.manual_seed(0)
    model = EmbeddingModel(apply_lora(tiny_llama(len(tokenizer)), rank=4, alpha=8, dropout=0.1)).train()
    return model, torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.1)


def test_the_checkpoint_restores_the_random_state_and_holds_the_schedule(tokenizer, tmp_path):
    plan = LRSchedule(((0, 1.0), (1, 1.0), (5, 0.25), (8, 0.0)))  # an extended plan
    model, optimizer = _fresh_training(tokenizer)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, plan)
    save_state(tmp_path, model, optimizer, scheduler, step=0, config=BASE.to_dict())
    expected = torch.rand(3), random.random()
    torch.manual_seed(123), random.seed(123)  # what a fresh process would have
    assert load_state(tmp_path, model, optimizer) == 0
    assert torch.equal(torch.rand(3), expected[0]) and random.random() == expected[1]
    assert stored_schedule(tmp_path) == plan


def test_an_older_checkpoint_without_a_stored_schedule_followed_its_config(tokenizer, tmp_path):
    model, optimizer = _fresh_training(tokenizer)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, LRSchedule.warmup_then_linear(2, 6))
    save_state(tmp_path, model, optimizer, scheduler, step=6, config={**BASE.to_dict(), "warmup_steps": 2})
    (tmp_path / SCHEDULE_FILE).unlink()
    assert stored_schedule(tmp_path) == LRSchedule.warmup_then_linear(2, 6)


# preflight: the driver refuses before Ray starts ------------------------------------------------

def _checkpoint(out: Path, name: str, config: TrainConfig) -> None:
    folder = out / "ray" / "train" / f"checkpoint_{name}"
    folder.mkdir(parents=True)
    (folder / CONFIG_FILE).write_text(json.dumps(config.to_dict()))


def test_preflight_compares_a_resume_with_the_latest_checkpoint(tmp_path):
    config = TrainConfig(data=[training_run(tmp_path)], base_model="smollm2-135m", out=f"file://{tmp_path}/out",
                         batch_size=4, steps=6)
    _checkpoint(tmp_path / "out", "2026-01-01_10-00-00.000001", config)
    _checkpoint(tmp_path / "out", "2026-01-01_10-05-00.000001", replace(config, steps=8))  # after --extend-steps
    (tmp_path / "out" / "ray" / "train" / "checkpoint_2026-01-01_10-09-00.000001").mkdir()  # cut short: no config
    assert latest_checkpoint_config(config.out)["steps"] == 8
    with pytest.raises(ValueError, match="already holds checkpoints of a training run: pass --resume"):
        check_training_inputs(config)  # without --resume
    with pytest.raises(ValueError, match="learning_rate: 0.0001 -> 0.001"):
        check_training_inputs(replace(config, steps=8, learning_rate=1e-3), resume=True)
    with pytest.raises(ValueError, match=r"steps: 8 -> 10 \(to train longer, add --extend-steps\)"):
        check_training_inputs(replace(config, steps=10), resume=True)
    assert latest_checkpoint_config(f"file://{tmp_path}/nothing") is None
    assert check_training_inputs(replace(config, steps=8, num_workers=2), resume=True) == 16  # free changes pass


def test_a_resume_on_runs_whose_rows_changed_is_refused_but_one_from_before_digests_is_not(tmp_path):
    config = TrainConfig(data=[training_run(tmp_path)], base_model="smollm2-135m", out=f"file://{tmp_path}/out",
                         batch_size=4, steps=6)
    check_training_inputs(config)  # the first run's preflight: sets the digest its checkpoints store
    _checkpoint(tmp_path / "out", "2026-01-01_10-00-00.000001", config)
    again = replace(config, data_digest=None)
    assert check_training_inputs(again, resume=True) == 16 and again.data_digest == config.data_digest
    training_run(tmp_path, n=17)  # a retry committed one more row into the same run since
    with pytest.raises(ValueError, match=r"data_digest: \w{12}… -> \w{12}… \(the rows of file://\S+/runs/r1 changed"):
        check_training_inputs(replace(config, data_digest=None), resume=True)
    older = tmp_path / "out" / "ray" / "train" / "checkpoint_2026-01-01_10-05-00.000001"
    older.mkdir()
    (older / CONFIG_FILE).write_text(json.dumps({k: v for k, v in config.to_dict().items() if k != "data_digest"}))
    assert check_training_inputs(replace(config, data_digest=None), resume=True) == 17  # it cannot tell: allowed


def test_the_cli_refuses_a_changed_resume_before_ray_and_passes_extend_steps_on(tmp_path):
    config = TrainConfig(data=[training_run(tmp_path)], base_model="smollm2-135m", out=f"file://{tmp_path}/out",
                         batch_size=4, steps=6)
    _checkpoint(tmp_path / "out", "2026-01-01_10-00-00.000001", config)
    command = [str(Path(sys.executable).parent / "synthembed"), "train", "--data", config.data[0], "--base-model",
               "smollm2-135m", "--out", config.out, "--batch-size", "4", "--steps", "8", "--learning-rate", "1e-3",
               "--resume", "--extend-steps"]
    result = subprocess.run(command, check=False, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "learning_rate: 0.0001 -> 0.001" in result.stderr, result.stderr[-2000:]
    assert "steps:" not in result.stderr  # --extend-steps reached the check
    assert "ray" not in result.stderr.lower().replace("array", "")  # Ray never started


# bit-identical resume: the loop's pieces in one process -------------------------------------------

QUERIES = ["Query: what is the capital of Peru", "Query: the quick brown fox", "Query: embeddings", "Query: Lima"]
DOCUMENTS = ["Lima is the capital and largest city of Peru.", "The quick brown fox jumps over the lazy dog.",
             "Embeddings map text to vectors.", "similar texts get similar vectors"]


def _resumed_scheduler(folder, model, optimizer, total_steps: int):
    """train_func's checkpoint block: restore, rebuild the schedule from its stored plan, stand at `start`."""
    start = load_state(folder, model, optimizer)
    plan = extend_schedule(stored_schedule(folder), start, total_steps)
    return start, torch.optim.lr_scheduler.LambdaLR(optimizer, plan, last_epoch=start - 1)


def _train(tokenizer, model, optimizer, scheduler, start: int, stop: int) -> list[float]:
    """Steps start..stop-1 as the loop takes them (a different batch each step); the lr of each."""
    from tasks.train.info_nce import info_nce_loss
    from tasks.train.text import tokenize_with_eos

    lrs = []
    for step in range(start, stop):
        order = [(step + i) % len(QUERIES) for i in range(len(QUERIES))]  # the batch is a function of the step
        q = model(**tokenize_with_eos(tokenizer, [QUERIES[i] for i in order], 32))
        d = model(**tokenize_with_eos(tokenizer, [DOCUMENTS[i] for i in order], 32))
        optimizer.zero_grad(set_to_none=True)
        info_nce_loss(q, d).backward()
        lrs.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return lrs


def _lora(model) -> list[torch.Tensor]:
    return [p.detach().clone() for p in model.parameters() if p.requires_grad]


def test_a_run_saved_rebuilt_and_resumed_ends_with_the_weights_of_an_uninterrupted_one(tokenizer, tmp_path):
    plan = LRSchedule.warmup_then_linear(warmup_steps=1, total_steps=5)
    model, optimizer = _fresh_training(tokenizer)
    _train(tokenizer, model, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, plan), 0, 5)
    straight = _lora(model)

    model, optimizer = _fresh_training(tokenizer)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, plan)
    _train(tokenizer, model, optimizer, scheduler, 0, 2)
    save_state(tmp_path, model, optimizer, scheduler, step=2, config=BASE.to_dict())
    _train(tokenizer, model, optimizer, scheduler, 2, 3)  # work after the checkpoint, lost with the process
    model, optimizer = _fresh_training(tokenizer)  # a new process builds everything again
    start, scheduler = _resumed_scheduler(tmp_path, model, optimizer, total_steps=5)
    _train(tokenizer, model, optimizer, scheduler, start, 5)
    assert start == 2 and all(torch.equal(a, b) for a, b in zip(straight, _lora(model), strict=True))


def test_an_extended_run_trains_its_new_steps_on_the_re_planned_decay(tokenizer, tmp_path):
    plan = LRSchedule.warmup_then_linear(warmup_steps=1, total_steps=3)
    model, optimizer = _fresh_training(tokenizer)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, plan)
    _train(tokenizer, model, optimizer, scheduler, 0, 3)
    save_state(tmp_path, model, optimizer, scheduler, step=3, config=BASE.to_dict())
    assert scheduler.get_last_lr() == [0.0]  # a finished run: the old LambdaLR would keep the lr at 0

    model, optimizer = _fresh_training(tokenizer)
    start, scheduler = _resumed_scheduler(tmp_path, model, optimizer, total_steps=6)
    before = _lora(model)
    lrs = _train(tokenizer, model, optimizer, scheduler, start, 6)
    longer = extend_schedule(plan, done_steps=3, total_steps=6)
    assert lrs == [1e-2 * longer(s) for s in range(3, 6)] and all(lr > 0 for lr in lrs)
    assert lrs[0] < 1e-2 * plan(2)  # no jump above the last step's lr
    assert not any(torch.equal(a, b) for a, b in zip(before, _lora(model)))  # it trained


# bit-identical resume through Ray Train ----------------------------------------------------------

class Interrupted(RuntimeError):
    pass


def _interrupted_once(config: dict) -> None:
    """train_func whose first attempt dies at the first report after its first checkpoint (that
    step's work is lost); Ray then replaces the worker, which resumes from the checkpoint."""
    import ray.train

    from tasks.train import loop

    report, marker, checkpointed = ray.train.report, Path(config["_interrupted_marker"]), []

    def report_or_die(metrics, checkpoint=None, **kwargs):
        if checkpointed and not marker.exists():
            marker.touch()
            time.sleep(1)  # let Ray's controller register the checkpoint reported a step ago
            raise Interrupted(f"killed before reporting step {metrics['step']}")
        report(metrics, checkpoint=checkpoint, **kwargs)
        if checkpoint is not None:
            checkpointed.append(metrics["step"])

    ray.train.report = report_or_die
    try:
        loop.train_func(config)
    finally:
        ray.train.report = report


def _final_lora_weights(out: Path) -> dict[str, torch.Tensor]:
    newest = max((out / "ray" / "train").glob("checkpoint_2*"))
    return torch.load(newest / STATE_FILE, weights_only=True)["model"]


@pytest.mark.soak  # ~80 s on 2 busy cores (two Ray Train runs, one with a worker restart): `make soak`
def test_an_interrupted_and_resumed_run_ends_with_the_weights_of_an_uninterrupted_one(tmp_path, monkeypatch):
    from tasks.train import launch as launcher
    from tasks.train import loop

    # Given a tiny model folder, a synthesis run, and a config whose LoRA dropout draws random numbers,
    base = save_tiny_base(tmp_path / "base")
    config = TrainConfig(data=[training_run(tmp_path)], base_model=str(base), out=f"file://{tmp_path}/straight",
                         batch_size=4, mini_batch_size=2, steps=3, warmup_steps=1, learning_rate=1e-2, max_length=32,
                         lora_rank=4, lora_alpha=8, lora_dropout=0.1, checkpoint_every=1, max_failures=1)
    steps: dict[str, list[int]] = {"straight": [], "resumed": []}
    launcher.connect_ray(num_cpus=2)  # kept for the session, as other Ray tests do (launch leaves it running)
    # when one run trains 3 steps straight,
    launcher.launch(config, str(base), on_metrics=lambda m: steps["straight"].append(m["step"]))
    # and another loses its worker during step 2 (after the step-1 checkpoint) and resumes from that checkpoint,
    monkeypatch.setattr(loop, "train_func", lambda c: _interrupted_once({**c, "_interrupted_marker": str(tmp_path / "x")}))
    launcher.launch(replace(config, out=f"file://{tmp_path}/resumed"), str(base),
                    on_metrics=lambda m: steps["resumed"].append(m["step"]))
    # then the second run trained steps 1, 2 (lost), 2, 3, and ends with the first run's LoRA weights, bit for bit.
    assert (tmp_path / "x").exists() and steps == {"straight": [1, 2, 3], "resumed": [1, 2, 3]}
    straight, resumed = _final_lora_weights(tmp_path / "straight"), _final_lora_weights(tmp_path / "resumed")
    assert straight.keys() == resumed.keys() and straight
    assert all(torch.equal(straight[k], resumed[k]) for k in straight)
