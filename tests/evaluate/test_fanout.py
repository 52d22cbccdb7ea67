"""Units fanned out over two Ray CPU workers on 127.0.0.1 score exactly as the sequential run does,
file the same results, and survive a worker killed mid-run.

Given all-MiniLM-L6-v2 and the random baseline on the offline suite (small samples), when the
units run in this process one model after another, and again on two Ray workers, then every
score is equal, and the result files hold the same scores. When a worker is killed while units
run, Ray restarts it, its unit runs again, and every unit is scored.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.common.settings import Settings
from tasks.evaluate.config import EvalConfig
from tasks.evaluate.fanout import WORKER_NAME, run_units
from tasks.evaluate.runner import score_model
from tasks.evaluate.suite import OFFLINE_TASKS, select_tasks

SIZES = {"bible_samples": 40, "bbc_per_label": 5}
MODELS = ["minilm", "random"]


@pytest.fixture(scope="module")
def ray_on_loopback():
    import os

    from tasks.train.launch import connect_ray

    os.environ.setdefault("RAY_AUTH_MODE", "disabled")  # a local test cluster: no token to hand around

    connect_ray(num_cpus=2)  # kept for the session, as the other Ray tests do: run_units then leaves it running
    yield


@pytest.fixture(scope="module")
def sequential(tmp_path_factory):
    store = tmp_path_factory.mktemp("sequential")
    config = EvalConfig(models=MODELS, store=f"file://{store}", **SIZES)
    outcomes = [score_model(spec, select_tasks(None, **SIZES), config, Settings().cache).to_dict()
                for spec in config.specs()]
    return store, outcomes


def _filed_scores(store: Path) -> dict[str, dict]:
    """Every result file's scores (not its timings or date), by its path below the store."""
    return {str(p.relative_to(store)): json.loads(p.read_text())["scores"]
            for p in sorted((store / "evals" / "results").rglob("*.json")) if p.name != "model_meta.json"}


def test_two_workers_score_exactly_as_the_sequential_run(ray_on_loopback, sequential, tmp_path):
    store, outcomes = sequential
    seen = []
    config = EvalConfig(models=MODELS, store=f"file://{tmp_path}", num_workers=2, **SIZES)
    fanned = run_units(config.specs(), config, on_unit=lambda *unit: seen.append(unit))
    assert [o["scores"] for o in fanned] == [o["scores"] for o in outcomes]
    assert all(len(o["scores"]) == len(OFFLINE_TASKS) and not o["failed"] for o in fanned)
    assert _filed_scores(tmp_path) == _filed_scores(store) and len(_filed_scores(store)) == 2 * len(OFFLINE_TASKS)
    assert sorted((model, task) for model, task, state, _ in seen if state == "done") == sorted(
        (model, task) for model in MODELS for task in OFFLINE_TASKS)

    # Run again: every unit is filed, none reaches a worker.
    again = run_units(config.specs(), config)
    assert [sorted(o["skipped"]) for o in again] == [sorted(OFFLINE_TASKS)] * 2
    assert [o["scores"] for o in again] == [o["scores"] for o in outcomes]


def test_a_killed_worker_is_restarted_and_its_unit_runs_again(ray_on_loopback, sequential, tmp_path):
    import ray

    _, outcomes = sequential
    killed = []

    def kill_a_worker_once(model, task, state, score):
        if not killed:  # the other worker is mid-unit now (or about to take one)
            killed.append(task)
            ray.kill(ray.get_actor(WORKER_NAME.format(1)), no_restart=False)

    config = EvalConfig(models=MODELS, store=f"file://{tmp_path}", num_workers=2, **SIZES)
    fanned = run_units(config.specs(), config, on_unit=kill_a_worker_once)
    assert killed and [o["failed"] for o in fanned] == [{}, {}]
    assert [o["scores"] for o in fanned] == [o["scores"] for o in outcomes]
