"""`--false-negative-margin` and `--same-task-type-batches` reach the training config; a bad margin
is one error (exit 2) before any data is read."""

from __future__ import annotations

import pytest

from flows.cli import build_parser, train_command


def _train_args(*extra: str):
    return build_parser().parse_args(["train", "--data", "file:///nowhere/runs/r1", "--out", "file:///tmp/o", *extra])


def test_the_flags_reach_the_config(monkeypatch):
    seen = []

    def capture(config, resume=False):
        seen.append(config)
        raise ValueError("stop here")

    monkeypatch.setattr("tasks.train.preflight.check_training_inputs", capture)
    assert train_command(_train_args("--false-negative-margin", "0.05", "--same-task-type-batches")) == 2
    assert train_command(_train_args()) == 2
    assert (seen[0].false_negative_margin, seen[0].same_task_type_batches) == (0.05, True)
    assert (seen[1].false_negative_margin, seen[1].same_task_type_batches) == (None, False)  # off by default


@pytest.mark.parametrize("margin", ["2", "nan", "-1.5"])
def test_a_margin_outside_minus_one_to_one_is_refused(margin, capsys):
    assert train_command(_train_args("--false-negative-margin", margin)) == 2
    assert "false_negative_margin must be between -1 and 1" in capsys.readouterr().err


def test_the_pipeline_trains_at_its_own_temperature_and_train_keeps_the_papers():
    from flows.cli.pipeline import PIPELINE_TRAINING

    pipeline, train = build_parser().parse_args(["pipeline"]), _train_args()
    assert (pipeline.temperature, pipeline.eval_every) == (PIPELINE_TRAINING.temperature, 5) == (0.05, 5)
    assert (train.temperature, train.eval_every) == (0.02, None)  # E5-mistral's τ; ~20 evaluations per run
    # A third of make run's 30 steps warms up: with 3, seed 1's run collapsed (BENCHMARKS.md).
    assert (pipeline.warmup_steps, train.warmup_steps) == (PIPELINE_TRAINING.warmup_steps, 10) == (10, 10)
    assert build_parser().parse_args(["pipeline", "--temperature", "0.02"]).temperature == 0.02
