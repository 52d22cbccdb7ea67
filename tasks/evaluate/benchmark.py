"""Benchmarks by name: any of mteb's (``MTEB(eng, v2)``: 41 tasks, ``NanoBEIR``: 13…) or our offline
suite (``synthembed-offline``, the default), and each task's size without loading its data.

mteb ships every benchmark's task list and each task's descriptive statistics (samples and
characters per split) inside the package, so both work offline in a fraction of a second; only
the data of mteb's own tasks comes from the Hugging Face hub. ``--tasks`` picks tasks of the
benchmark (any offline or standard MTEB task when no benchmark is named, as before).

>>> benchmark_task_names(None, None) == list(OFFLINE_TASKS)
True
>>> len(benchmark_task_names("MTEB(eng, v2)", None)), benchmark_task_names("NanoBEIR", ["NanoSciFactRetrieval"])
(41, ['NanoSciFactRetrieval'])
>>> offline_size("BibleRetrievalEnEs", bible_samples=100, bbc_per_label=None)
TaskSize(samples=200, characters=25050)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

OFFLINE_BENCHMARK = "synthembed-offline"
OFFLINE_TASKS = ("BibleBitextMining", "BibleRetrievalEnEs", "BibleRetrievalEsEn", "LeeDocumentSimilarity",
                 "BBCNewsClassification", "BBCNewsClustering")
# Sizes of the offline tasks without reading their data: mteb's statistics of the default suite
# (2,000 verse pairs, seed 42; all 2,127 BBC articles), per text, scaled by the sizes asked for.
CHARS_PER_VERSE = 125.25  # 501,008 characters in 2 x 2,000 verses
CHARS_PER_ARTICLE = 2264  # 4,815,482 characters in 2,127 articles
BBC_ARTICLES, BBC_SECTIONS = 2127, 5
LEE_PAIRS, LEE_CHARS = 1225, 1_205_841


class TaskSelectionError(ValueError):
    """A benchmark or task name that cannot run here; the message lists what can."""


@dataclass(frozen=True)
class TaskSize:
    """What a task sends to the model, from metadata: texts (samples) and their characters."""

    samples: int
    characters: int


def hub_offline() -> bool:
    """True when Hugging Face downloads are switched off (``HF_HUB_OFFLINE=1``)."""
    return os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")


def mteb_benchmark(name: str):
    """mteb's benchmark called ``name`` (metadata only, offline), or a TaskSelectionError naming some that exist."""
    import mteb

    try:
        return mteb.get_benchmark(name)
    except (KeyError, ValueError) as exc:
        known = ", ".join(["MTEB(eng, v2)", "MTEB(Multilingual, v2)", "NanoBEIR", "BEIR"])
        raise TaskSelectionError(f"--benchmark {name!r}: no such benchmark; use {OFFLINE_BENCHMARK} (the offline "
                                 f"suite) or one of mteb's, e.g. {known} (all: mteb.get_benchmarks())") from exc


def benchmark_task_names(benchmark: str | None, tasks: list[str] | None) -> list[str]:
    """The task names to run: ``tasks`` of ``benchmark`` (default: all of it; no benchmark: the offline
    suite, or any offline or standard MTEB task named). Names only: no data, no hub."""
    import mteb

    if benchmark in (None, OFFLINE_BENCHMARK):
        members = list(OFFLINE_TASKS)
        if not tasks:
            return members
        if benchmark is None:  # as before --benchmark: any offline or standard MTEB task
            for name in tasks:
                if name not in OFFLINE_TASKS:
                    try:
                        mteb.get_task(name)
                    except KeyError as exc:
                        raise TaskSelectionError(f"unknown task {name!r}: use the offline tasks "
                                                 f"({', '.join(OFFLINE_TASKS)}) or a standard MTEB task name "
                                                 "(e.g. STS12, SciFact)") from exc
            return list(dict.fromkeys(tasks))
    else:
        members = [t.metadata.name for t in mteb_benchmark(benchmark).tasks]
        if not tasks:
            return members
    strangers = [name for name in tasks if name not in members]
    if strangers:
        raise TaskSelectionError(f"--tasks {','.join(strangers)}: not in {benchmark}, whose tasks are "
                                 f"{', '.join(members[:8])}{'…' if len(members) > 8 else ''}")
    return list(dict.fromkeys(tasks))


def check_hub(names: list[str], benchmark: str | None = None) -> None:
    """A TaskSelectionError when standard MTEB tasks are to run while the hub is switched off."""
    standard = [n for n in names if n not in OFFLINE_TASKS]
    if standard and hub_offline():
        what = f"--benchmark {benchmark!r}" if benchmark not in (None, OFFLINE_BENCHMARK) else ", ".join(standard)
        raise TaskSelectionError(f"{what}: standard MTEB tasks download their data from the Hugging Face hub, "
                                 f"which is switched off here (HF_HUB_OFFLINE); offline: --benchmark "
                                 f"{OFFLINE_BENCHMARK} ({', '.join(OFFLINE_TASKS)}), or add --dry-run")


def offline_size(name: str, bible_samples: int, bbc_per_label: int | None) -> TaskSize:
    """An offline task's size at these sample sizes (mteb's statistics of the default suite, scaled)."""
    articles = BBC_ARTICLES if bbc_per_label is None else min(BBC_ARTICLES, bbc_per_label * BBC_SECTIONS)
    sizes = {
        "BibleBitextMining": TaskSize(2 * bible_samples, round(4 * bible_samples * CHARS_PER_VERSE)),  # both directions
        "BibleRetrievalEnEs": TaskSize(2 * bible_samples, round(2 * bible_samples * CHARS_PER_VERSE)),
        "BibleRetrievalEsEn": TaskSize(2 * bible_samples, round(2 * bible_samples * CHARS_PER_VERSE)),
        "LeeDocumentSimilarity": TaskSize(LEE_PAIRS, LEE_CHARS),
        "BBCNewsClassification": TaskSize(articles, articles * CHARS_PER_ARTICLE),
        "BBCNewsClustering": TaskSize(articles, articles * CHARS_PER_ARTICLE),
    }
    return sizes[name]


def _characters(stats: dict) -> int:
    """Characters of one split's (or subset's) statistics: mteb states the total for most task types;
    classification and clustering only per text column."""
    if stats.get("number_of_characters"):
        return int(stats["number_of_characters"])
    return int(sum(value.get("total_text_length", 0) for key, value in stats.items()
                   if key.endswith("_statistics") and isinstance(value, dict)))


def mteb_size(task) -> TaskSize:
    """A standard task's size from mteb's shipped statistics: its evaluation splits, the benchmark's
    subsets only where it takes some (``MTEB(eng, v2)`` keeps the English ones)."""
    stats = task.metadata.descriptive_stats or {}
    samples = characters = 0
    for split in task.eval_splits:
        split_stats = stats.get(split) or {}
        by_subset = split_stats.get("hf_subset_descriptive_stats") or {}
        parts = [by_subset[s] for s in task.hf_subsets if s in by_subset] or [split_stats]
        samples += sum(int(p.get("num_samples") or 0) for p in parts)
        characters += sum(_characters(p) for p in parts)
    return TaskSize(samples, characters)
