"""Running tasks the way the evaluate flow does (tasks.evaluate.suite.run_tasks), keyed by task name."""

from __future__ import annotations

from tasks.evaluate.suite import run_tasks as run_suite


def run_tasks(model, tasks) -> dict:
    """Evaluate ``tasks`` with mteb (no results cache, no CO2 tracking); ``{task name: TaskResult}``."""
    return {result.task_name: result for result in run_suite(model, tasks, batch_size=32)}
