"""Filters over a whole run's committed rows: near-duplicates, and overlap with evaluation data.

Parts are generated and committed one by one, but a near-duplicate can sit in another part,
shard or retry, so the filters run over *all* committed rows at once, after the parts (at the
end of every synthesis or retry, and with ``synthembed clean``). Each writes its verdicts to
``{run}/filters/{name}.parquet`` and records itself in the manifest (:class:`FilterEntry`:
counts by reason and by shard). The data files are never rewritten: readers
(:func:`tasks.storage.shards.scan_run`, training, ``synthembed export``) leave out the rows a
``drop`` filter lists, and a ``mark`` filter only reports.

    manifest = clean_run(store, load_manifest(store, "r1"), CleanSettings(decontaminate="mark"))
    manifest.filters["near_duplicates"].counts   # {'near_duplicate_query': 12, 'near_duplicate_document': 3}
"""

from __future__ import annotations

import io
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, Field

from tasks.storage.manifest import FilterEntry, Manifest
from tasks.storage.store import Store

COLUMNS = ["example_id", "task_type", "language", "task", "query", "positive", "negative"]
NEAR_DUPLICATES, CONTAMINATION = "near_duplicates", "contamination"


class CleanSettings(BaseModel):
    """Which filters run over a run's rows, and against what.

    Args:
        near_duplicates: drop near-duplicate queries and documents (MinHash LSH, keep first).
        query_threshold / document_threshold: shingle Jaccard that makes two texts duplicates.
        decontaminate: ``drop`` rows sharing an n-gram with evaluation data, only ``mark``
            them (reported, still read), or ``off``.
        offline_suite: decontaminate against every text the offline evaluation suite scores.
        evaluation_files: more evaluation texts (.txt: one per line, .jsonl/.parquet: ``text``).
        mteb_tasks: mteb task names whose texts to load from the Hugging Face hub.
    """

    near_duplicates: bool = True
    query_threshold: float = Field(0.8, gt=0, le=1)
    document_threshold: float = Field(0.7, gt=0, le=1)
    decontaminate: Literal["drop", "mark", "off"] = "drop"
    offline_suite: bool = True
    evaluation_files: list[str] = Field(default_factory=list)
    mteb_tasks: list[str] = Field(default_factory=list)


class EvaluationSourceMissing(ValueError):
    """An evaluation source the settings name cannot be read: said before any LLM call."""


def check_evaluation_sources(settings: CleanSettings) -> None:
    """Cheap checks of what decontamination will read (files exist, mteb names are known), or
    EvaluationSourceMissing naming the source and the fix: before a run spends anything."""
    if settings.decontaminate == "off":
        return
    if settings.offline_suite:
        from tasks.evaluate.data.bible import ensure_exports

        try:
            ensure_exports()
        except FileNotFoundError as error:
            raise EvaluationSourceMissing(f"the offline suite's Bible texts are not exported ({error}); "
                                          "or decontaminate without them: --no-offline-suite") from None
    for path in settings.evaluation_files:
        if not Path(path).is_file():
            raise EvaluationSourceMissing(f"evaluation texts {path!r} (--eval-texts) is not a readable file")
        if Path(path).suffix.lower() not in (".txt", ".jsonl", ".parquet"):
            raise EvaluationSourceMissing(f"evaluation texts {path!r}: use .txt (one text per line), .jsonl or .parquet "
                                          "(a 'text' field)")
    if settings.mteb_tasks:
        import mteb

        known = {task.metadata.name for task in mteb.get_tasks()}
        if unknown := [name for name in settings.mteb_tasks if name not in known]:
            raise EvaluationSourceMissing(f"unknown mteb task(s) {', '.join(unknown)} (--eval-mteb-tasks)")


def filter_path(store: Store, run_id: str, name: str) -> str:
    """A new verdict file each time: the manifest names the one in force, so a clean that fails
    half-way never leaves the saved manifest describing a file it did not write."""
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    return store.path("runs", run_id, "filters", f"{name}-{stamp}.parquet")


def remove_stale_verdicts(store: Store, manifest: Manifest) -> list[str]:
    """Delete verdict files the (saved) manifest no longer names; returns their paths."""
    current = {entry.path for entry in manifest.filters.values()}
    return store.remove_unlisted(store.path("runs", manifest.run_id, "filters", "*.parquet"), current)


def evaluation_texts(settings: CleanSettings) -> Iterator[tuple[str, str]]:
    """``(source, text)`` of every evaluation text the settings name, files and hub tasks included."""
    from tasks.clean.eval_texts import evaluation_texts_from_file, mteb_task_texts, offline_suite_texts

    if settings.offline_suite:
        yield from offline_suite_texts()
    for path in settings.evaluation_files:
        yield from evaluation_texts_from_file(path)
    if settings.mteb_tasks:
        yield from mteb_task_texts(settings.mteb_tasks)


def _entry(store: Store, manifest: Manifest, name: str, verdicts: pl.DataFrame, rows: pl.DataFrame,
           action: str, started: float, details: dict | None = None) -> FilterEntry:
    """Write one filter's verdicts and describe them: distinct rows per reason, overall and per shard."""
    path = filter_path(store, manifest.run_id, name)
    buffer = io.BytesIO()
    verdicts.write_parquet(buffer, compression="zstd")
    store.write_bytes(path, buffer.getvalue())
    flagged = verdicts.unique(["example_id", "reason"]).join(rows.select("example_id", "task_type", "language"),
                                                             on="example_id", how="left")
    by_shard: dict[str, dict[str, int]] = {}
    for task_type, language, reason, n in flagged.group_by("task_type", "language", "reason").len().iter_rows():
        by_shard.setdefault(f"{task_type}/{language}", {})[reason] = n
    counts = dict(flagged.group_by("reason").len().sort("reason").iter_rows())
    return FilterEntry(path=path, action=action, rows_checked=rows.height, counts=counts, by_shard=by_shard,
                       details=details or {}, seconds=round(time.perf_counter() - started, 2))


def clean_run(store: Store, manifest: Manifest, settings: CleanSettings) -> Manifest:
    """Run the filters over every committed row; the manifest with ``filters`` replaced (not yet saved).

    Raises FileNotFoundError when an evaluation source named by the settings cannot be read,
    before any verdict is written.
    """
    from tasks.clean.decontaminate import find_contaminated
    from tasks.clean.index_cache import cached_index
    from tasks.clean.near_dup import find_near_duplicates
    from tasks.clean.task_diversity import task_diversity_summary, task_duplicate_groups
    from tasks.storage.shards import scan_run

    rows = scan_run(store, manifest.run_id, manifest, filtered=False).select(COLUMNS).collect()
    if rows.is_empty():  # nothing committed yet: no verdicts, no index to build
        return manifest.model_copy(update={"filters": {}})
    index = cached_index(settings) if settings.decontaminate != "off" else None
    filters: dict[str, FilterEntry] = {}
    if settings.near_duplicates:
        started = time.perf_counter()
        found = find_near_duplicates(rows, settings.query_threshold, settings.document_threshold)
        diversity = task_diversity_summary(task_duplicate_groups(rows))
        filters[NEAR_DUPLICATES] = _entry(store, manifest, NEAR_DUPLICATES, found, rows, "drop", started,
                                          {"task_definitions": diversity.to_dicts()})
    if index is not None and index.texts:  # no source at all (--no-offline-suite, no file): nothing to match
        started = time.perf_counter()
        found = find_contaminated(rows, index)
        by_source = dict(found.unique(["example_id", "source"]).group_by("source").len().sort("source").iter_rows())
        filters[CONTAMINATION] = _entry(store, manifest, CONTAMINATION, found, rows, settings.decontaminate, started,
                                        {"evaluation_texts": index.texts, "too_short_to_index": index.skipped_short,
                                         "by_source": by_source})
    return manifest.model_copy(update={"filters": filters})


def dropped_ids(store: Store, manifest: Manifest) -> pl.LazyFrame | None:
    """The example ids that ``drop`` filters leave out of the run's data (None: none)."""
    paths = [entry.path for entry in manifest.filters.values() if entry.action == "drop"]
    if not paths:
        return None
    frames = []
    for path in paths:
        with store.fs.open(path, "rb") as f:
            frames.append(pl.read_parquet(f, columns=["example_id"]))
    return pl.concat(frames).unique().lazy()
