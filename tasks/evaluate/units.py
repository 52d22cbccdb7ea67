"""The unit of evaluation work: one model on one task. Filed per unit in mteb's layout, skipped when
already filed, retried alone.

Results go where mteb's own results cache keeps them, below ``{store}/evals``::

    {store}/evals/results/{model_name_as_path}/{revision}/{TaskName}.json   # mteb TaskResult JSON
    {store}/evals/results/{model_name_as_path}/{revision}/model_meta.json

so ``mteb.ResultCache(cache_path="{store}/evals").load_results(...)`` (mteb's loader; a local
copy for s3://) reads them. A unit counts as filed — and a rerun skips it — exactly when mteb's
``evaluate(cache=…, overwrite_strategy="only-missing")`` would skip it: a result for the same
model name and revision whose dataset revision is the task's (our offline tasks put their
sample size and seed in it) and that covers every split and subset the task evaluates.

>>> retry_command(["synthembed", "evaluate", "--model", "minilm", "--tasks", "A,B,C"], ["B"])
'synthembed evaluate --model minilm --tasks B'
>>> retry_command(["synthembed", "evaluate", "--benchmark=NanoBEIR", "--tasks=X"], ["Y", "Z"])
'synthembed evaluate --benchmark=NanoBEIR --tasks Y,Z'
"""

from __future__ import annotations

import json
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tasks.storage.store import Store

RESULTS = ("evals", "results")  # mteb's ResultCache reads {cache_path}/results/...


@dataclass(frozen=True)
class Unit:
    """One model (by label) on one task; ``characters``: what the task sends, for ordering and estimates."""

    model: str
    task: str
    characters: int = 0


def results_prefix(name_as_path: str, revision: str | None) -> str:
    """``{model_name_as_path}/{revision}``, as in mteb's results cache."""
    return f"{name_as_path}/{revision or 'no_revision_available'}"


def result_path(store: Store, meta, task_name: str) -> str:
    return store.path(*RESULTS, results_prefix(meta.model_name_as_path(), meta.revision), f"{task_name}.json")


def filed_result(store: Store, meta, task):
    """The ``TaskResult`` filed for this model (``meta``: name and revision) and ``task``, or None when
    there is none or it no longer fits the task (another dataset revision, splits or subsets missing)."""
    from mteb import TaskResult

    path = result_path(store, meta, task.metadata.name)
    if not store.exists(path):
        return None
    with tempfile.TemporaryDirectory() as tmp:  # mteb's reader takes a file (and upgrades old formats)
        local = Path(tmp) / "result.json"
        local.write_bytes(store.fs.cat_file(path))
        result = TaskResult.from_disk(local)
    if not result.is_mergeable(task) or result.get_missing_evaluations(task):
        return None
    return result


def save_result(store: Store, meta, result) -> str:
    """File one ``TaskResult`` (and the model's metadata beside it); its URL."""
    prefix = (*RESULTS, results_prefix(meta.model_name_as_path(), meta.revision))
    with tempfile.TemporaryDirectory() as tmp:
        local = Path(tmp) / f"{result.task_name}.json"
        result.to_disk(local)  # mteb's own serialisation: scores rounded, date as a timestamp
        store.write_bytes(store.path(*prefix, local.name), local.read_bytes())
    meta_json = json.loads(meta.model_dump_json(exclude={"loader"}))
    store.write_json(store.path(*prefix, "model_meta.json"), meta_json)
    return store.url(*prefix, local.name)


def retry_command(argv: list[str], failed_tasks: list[str]) -> str:
    """The command that redoes only what is missing: the same command with ``--tasks`` cut to the tasks
    that failed (for any model). Every unit already filed is skipped, so no other unit runs again."""
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--tasks":
            skip = True
            continue
        if arg.startswith("--tasks="):
            continue
        kept.append(arg)
    return shlex.join([*kept, "--tasks", ",".join(dict.fromkeys(failed_tasks))])


class UnitBoard:
    """Every unit's state (pending, skipped, done, failed) and score: the table the Prefect UI shows,
    republished as units finish.

    >>> board = UnitBoard(["m"], ["A", "B"]); board.mark("m", "A", "done", 0.51234)
    >>> board.rows()[0], board.missing()
    ({'model': 'm', 'task': 'A', 'state': 'done', 'score': 0.5123}, [('m', 'B')])
    """

    def __init__(self, models: list[str], tasks: list[str]) -> None:
        self._states = {(model, task): ("pending", None) for model in models for task in tasks}

    def mark(self, model: str, task: str, state: str, score: float | None) -> None:
        self._states[(model, task)] = (state, None if score is None else round(score, 4))

    def rows(self) -> list[dict]:
        return [{"model": model, "task": task, "state": state, "score": score}
                for (model, task), (state, score) in self._states.items()]

    def missing(self) -> list[tuple[str, str]]:
        """(model, task) of every unit neither done nor skipped."""
        return [key for key, (state, _) in self._states.items() if state not in ("done", "skipped")]
