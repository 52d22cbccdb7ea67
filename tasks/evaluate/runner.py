"""Score one model on its units: skip what is filed, load the model once (only if something is left),
file each result as it finishes, and let a failing unit fail alone.

The sequential flow and every Ray worker (:mod:`tasks.evaluate.fanout`) run this same function,
so a unit's score does not depend on where it ran.

    outcome = score_model(parse_model("minilm"), select_tasks(["LeeDocumentSimilarity"]), config, cache_dir)
    outcome.scores, outcome.skipped, outcome.failed
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tasks.evaluate.config import EvalConfig
from tasks.evaluate.devices import resolve_device
from tasks.evaluate.models import ModelSpec, load_encoder, model_revision
from tasks.evaluate.suite import run_tasks
from tasks.evaluate.units import filed_result, save_result
from tasks.storage.store import open_store


@dataclass
class ModelOutcome:
    """What happened to one model's units: scores (filed before or now), result URLs, skips, failures."""

    label: str
    scores: dict[str, float] = field(default_factory=dict)
    results: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already filed for this revision and task version
    failed: dict[str, str] = field(default_factory=dict)  # task -> the error's last line
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return {"label": self.label, "scores": self.scores, "results": self.results, "skipped": self.skipped,
                "failed": self.failed, "seconds": self.seconds}


@dataclass(frozen=True)
class Identity:
    """The name and revision a model's results are filed under (what mteb's ``model_name_as_path`` needs)."""

    name: str
    revision: str

    def model_name_as_path(self) -> str:
        return self.name.replace("/", "__").replace(" ", "_")


def identity_of(spec: ModelSpec, cache_dir: Path) -> Identity:
    """What ``spec``'s results are filed under, without loading it."""
    return Identity(spec.mteb_name, model_revision(spec, cache_dir))


def encoder_for(spec: ModelSpec, config: EvalConfig, cache_dir: Path):
    """``spec`` loaded as ``config`` says: its device (resolved where this runs), lengths and batches."""
    return load_encoder(spec, cache_dir, config.max_length, config.batch_size, resolve_device(config.device),
                        config.batch_tokens)


def split_filed(store, identity, tasks: list) -> tuple[dict[str, float], list]:
    """(task -> score of every task already filed for this model, the tasks left to run)."""
    filed, todo = {}, []
    for task in tasks:
        result = filed_result(store, identity, task)
        if result is None:
            todo.append(task)
        else:
            filed[task.metadata.name] = float(result.get_score())
    return filed, todo


def score_model(spec: ModelSpec, tasks: list, config: EvalConfig, cache_dir: Path,
                on_unit: Callable[[str, str, float | None], None] | None = None, encoder=None) -> ModelOutcome:
    """Every task of ``tasks`` on ``spec``; ``on_unit(task, state, score)`` after each unit
    (state: ``skipped``, ``done`` or ``failed``). ``encoder``: a ready one (tests), else loaded here."""
    started = time.perf_counter()
    outcome = ModelOutcome(spec.label)
    store = open_store(config.store)
    identity = encoder.mteb_model_meta if encoder is not None else identity_of(spec, cache_dir)
    filed, todo = split_filed(store, identity, tasks)
    for name, score in filed.items():
        outcome.scores[name] = score
        outcome.skipped.append(name)
        _notify(on_unit, name, "skipped", score)
    if todo and encoder is None:
        try:
            encoder = encoder_for(spec, config, cache_dir)
        except Exception as exc:  # the model cannot load: each of its units fails, the other models go on
            for task in todo:
                outcome.failed[task.metadata.name] = f"loading {spec.label}: {_last_line(exc)}"
                _notify(on_unit, task.metadata.name, "failed", None)
            todo = []
    for task in todo:
        name = task.metadata.name
        try:
            (result,) = run_tasks(encoder, [task], config.batch_size)
            outcome.results.append(save_result(store, encoder.mteb_model_meta, result))
            # The score as filed (mteb rounds on saving): the same whether this run or an earlier one scored it.
            outcome.scores[name] = float(filed_result(store, encoder.mteb_model_meta, task).get_score())
        except Exception as exc:  # this unit fails alone; the retry command redoes it
            outcome.failed[name] = _last_line(exc)
            _notify(on_unit, name, "failed", None)
            continue
        _notify(on_unit, name, "done", outcome.scores[name])
    outcome.seconds = time.perf_counter() - started
    return outcome


def _notify(on_unit, task: str, state: str, score: float | None) -> None:
    if on_unit is not None:
        on_unit(task, state, score)


def _last_line(exc: BaseException) -> str:
    lines = "".join(traceback.format_exception_only(type(exc), exc)).strip().splitlines()
    return lines[-1] if lines else type(exc).__name__
