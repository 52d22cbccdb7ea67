"""Filter verdicts: which rows of a run a whole-run filter flagged, and whether readers drop them.

A filter (near-duplicates, contamination, …: :mod:`tasks.clean.filters`) writes one Parquet
file of verdicts (``example_id``, ``reason``, details) per run of it, and records it in the
manifest as a :class:`~tasks.runs.manifest.FilterEntry`. The data files are never rewritten:
readers (:func:`tasks.runs.parts.scan_run`) leave out the ids a ``drop`` filter lists. This
module knows files and counts, not what any filter checks.

One entry adds instead of removing: mined hard negatives (:mod:`tasks.clean.mining`), action
``add``, a file of ``example_id`` and ``negatives`` (list of str) that readers may join. One replaces:
relabeled positives (:mod:`tasks.clean.relabel`), action ``replace``, a file of ``example_id``,
``positive`` (the row's new positive) and ``negatives`` (the old positive, where it is no answer at all),
which readers that ask for it apply (:func:`replace_positives`).
"""

from __future__ import annotations

import io
import logging
import secrets
import time
from datetime import UTC, datetime

import polars as pl

from tasks.runs.manifest import FilterEntry, Manifest
from tasks.storage.store import Store

log = logging.getLogger(__name__)


def filter_path(store: Store, run_id: str, name: str) -> str:
    """A new verdict file each time: the manifest names the one in force, so a clean that fails
    half-way never leaves the saved manifest describing a file it did not write."""
    stamp = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{secrets.token_hex(3)}"
    return store.path("runs", run_id, "filters", f"{name}-{stamp}.parquet")


def remove_stale_verdicts(store: Store, manifest: Manifest) -> list[str]:
    """Delete verdict files the (saved) manifest no longer names; returns their paths."""
    current = {entry.path for entry in manifest.filters.values()}
    return store.remove_unlisted(store.path("runs", manifest.run_id, "filters", "*.parquet"), current)


def write_verdicts(store: Store, manifest: Manifest, name: str, verdicts: pl.DataFrame, rows: pl.DataFrame,
           action: str, started: float, details: dict | None = None) -> FilterEntry:
    """Write one filter's verdicts (a new file) and describe them: distinct rows per reason, overall and per shard."""
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


def _entry_files(store: Store, manifest: Manifest, action: str, columns: list[str] | None,
                 without: str) -> list[pl.DataFrame]:
    """The files of the manifest's ``action`` entries; one the manifest names but is gone is skipped with a
    warning saying what goes ``without`` it (rerun ``synthembed clean`` to write it again)."""
    frames = []
    for entry in manifest.filters.values():
        if entry.action != action:
            continue
        try:
            with store.fs.open(entry.path, "rb") as f:
                frames.append(pl.read_parquet(f, columns=columns))
        except FileNotFoundError:
            log.warning("the %s file %s is gone: %s", action, entry.path, without)
    return frames


def added_negatives(store: Store, manifest: Manifest, relabeled: bool = False) -> pl.LazyFrame | None:
    """``example_id`` and ``negatives`` (list of str) from the ``add`` entries (None: none, or its file is gone);
    with ``relabeled``, the ``replace`` entries' negatives first (an old positive the LLM found irrelevant: only a
    negative once its row's positive is replaced, else it would be the row's positive and negative at once)."""
    columns = ["example_id", "negatives"]
    frames = [*(_entry_files(store, manifest, "replace", columns, "rows are read without them") if relabeled else []),
              *_entry_files(store, manifest, "add", columns, "rows are read without them")]
    if not frames:
        return None
    return (pl.concat(frames).explode("negatives").drop_nulls().unique(maintain_order=True)
            .group_by("example_id", maintain_order=True).agg("negatives").lazy())


def replaced_positives(store: Store, manifest: Manifest) -> pl.LazyFrame | None:
    """``example_id`` and ``positive`` from the ``replace`` entries (None: none, or its file is gone)."""
    frames = _entry_files(store, manifest, "replace", ["example_id", "positive"], "rows keep their positives")
    return pl.concat(frames).unique("example_id", keep="last", maintain_order=True).lazy() if frames else None


def replace_positives(rows: pl.LazyFrame, replaced: pl.LazyFrame) -> pl.LazyFrame:
    """``rows`` with the ``positive`` of each row that ``replaced`` (``example_id``, ``positive``) names, in place.

    >>> rows = pl.LazyFrame({"example_id": ["a", "b"], "positive": ["old a", "old b"]})
    >>> new = pl.LazyFrame({"example_id": ["b"], "positive": ["new b"]})
    >>> replace_positives(rows, new).collect()["positive"].to_list()
    ['old a', 'new b']
    """
    columns = rows.collect_schema().names()
    return (rows.join(replaced.rename({"positive": "_replaced"}), on="example_id", how="left", maintain_order="left")
            .with_columns(pl.coalesce("_replaced", "positive").alias("positive")).select(columns))


def marked_rows(store: Store, manifest: Manifest) -> pl.LazyFrame | None:
    """Why ``mark`` filters flagged rows they keep: ``example_id`` and ``marked``, each verdict as its reason
    and details (``contaminated (field=positive, source=offline:Bible)``), several joined by ``; `` (None: no
    mark filter). What an export shows, since a marked row is in the data and nothing else says so."""
    frames = []
    for verdicts in _entry_files(store, manifest, "mark", None, "its marks are not shown"):
        details = [c for c in verdicts.columns if c not in ("example_id", "reason")]
        why = pl.col("reason")
        if details:
            pairs = pl.concat_str([pl.concat_str([pl.lit(f"{c}="), pl.col(c).cast(pl.String).fill_null("")])
                                   for c in details], separator=", ")
            why = pl.concat_str([why, pl.lit(" ("), pairs, pl.lit(")")])
        frames.append(verdicts.select("example_id", why.alias("marked")))
    if not frames:
        return None
    return (pl.concat(frames).unique().group_by("example_id")
            .agg(pl.col("marked").sort().str.join("; ")).lazy())
