"""The exported folder: committed rows of a run as Parquet, one ``datasets`` config per task type.

Layout (the card's YAML ``configs:`` names these paths)::

    {out}/README.md                                     the dataset card
    {out}/data/{task_type}/train-00000-of-00001.parquet  one config per task type, split "train"
    {out}/plots/*.png                                   charts the card shows

Why one folder per task type: the six task types are six kinds of training pair (a retrieval
triple is not an STS pair), and E5-style training samples them separately, so each is a
config: ``load_dataset(out, "retrieval")``. A config ``all`` (the default) reads every folder,
which works because every file has the same columns (``negative`` is null where a task type
has none). Folder names carry no ``key=value`` (Hive) parts, so no reader adds columns from
them, and ``load_dataset("parquet", data_dir=f"{out}/data")`` reads the same rows.

Columns are the training triple and its provenance; the LLM's raw answer, token counts and
seeds stay in the run (they repeat what the columns say, or only matter for resuming it). Rows a
``mark`` filter flagged (``--decontaminate mark``) are exported with why in ``marked`` (null for
the others); rows of a ``drop`` filter are not exported.

The folder is built beside ``out`` and renamed into place when complete, so ``out`` is
either the previous export or the new one, never half of one.

>>> from tasks.runs.schema import ROW_SCHEMA as SCHEMA
>>> rows = pl.LazyFrame([{**{c: "x" for c in SCHEMA}, "example_index": 0, "shard_seed": 0,
...                       "prompt_tokens": 1, "completion_tokens": 1}], schema=SCHEMA)
>>> export_rows(rows).collect_schema().names() == list(EXPORT_COLUMNS)
True
>>> marks = pl.LazyFrame({"example_id": ["x"], "marked": ["contaminated (field=query, source=file:eval.txt)"]})
>>> export_rows(rows, marks).collect()["marked"].to_list()
['contaminated (field=query, source=file:eval.txt)']
>>> file_name(0, 3)
'train-00000-of-00003.parquet'
"""

from __future__ import annotations

import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from tasks.runs.manifest import Manifest, ShardStatus, find_run
from tasks.runs.parts import scan_run
from tasks.runs.verdicts import marked_rows
from tasks.storage.store import Store

SPLIT = "train"
DATA_DIR = "data"
ROWS_PER_FILE = 100_000  # about 100-300 MB of zstd Parquet for long texts: easy to upload and stream
ROW_GROUP_SIZE = 10_000  # the hub's viewer and streaming readers fetch one row group at a time

# Kept, in this order. `placeholders` (a JSON object: the sampled query type, length, difficulty...)
# says what the prompt asked for, which lets users filter or balance by it.
EXPORT_COLUMNS = ("example_id", "task_type", "language", "task", "query", "positive", "negative",
                  "model", "template_id", "placeholders", "marked")
# The exported columns that are not row columns (tasks.runs.schema.ROW_COLUMNS), and what they hold.
EXPORT_ONLY_COLUMNS = {"marked": "why a `mark` filter flagged the row (e.g. `contaminated (field=positive, "
                                 "source=...)`); null for rows no filter flagged"}


class ExportError(ValueError):
    """The export cannot be made as asked (output folder in use, nothing to export): fix the input."""


@dataclass
class Run:
    """A run to export: its manifest and its committed rows (exported columns, lazily; drop filters applied)."""

    manifest: Manifest
    rows: pl.LazyFrame
    count: int


def open_run(store: Store, run_id: str) -> Run:
    """The run's manifest and committed rows; RunNotFound if there is no such run, ExportError if it has no rows."""
    manifest = find_run(store, run_id)
    rows = scan_run(store, run_id, manifest, relabeled=True)  # what training reads: a relabeled positive wins
    count = rows.select(pl.len()).collect().item()
    if count == 0:
        complete = sum(e.status is ShardStatus.COMPLETE for e in manifest.shards.values())
        raise ExportError(f"run {run_id!r} has no committed rows ({complete}/{len(manifest.shards)} shards complete): "
                          "nothing to export")
    return Run(manifest, export_rows(rows, marked_rows(store, manifest)), count)


def check_out_dir(out: Path, overwrite: bool) -> Path:
    """``out`` as an absolute path if it may be written: absent, an empty folder, or ``overwrite``."""
    out = out.expanduser().absolute()
    if out.exists() and not out.is_dir():
        raise ExportError(f"--out {str(out)!r} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise ExportError(f"--out {str(out)!r} is not empty: choose another folder, or pass --overwrite to replace it")
    return out


def export_rows(rows: pl.LazyFrame, marks: pl.LazyFrame | None = None) -> pl.LazyFrame:
    """The exported columns, in a stable order: task type, language, then generation order; ``marked`` from
    ``marks`` (``example_id``, ``marked``: :func:`tasks.runs.verdicts.marked_rows`), else null."""
    rows = rows.sort(["task_type", "language", "example_index", "example_id"])
    if marks is None:
        rows = rows.with_columns(marked=pl.lit(None, dtype=pl.String))
    else:
        rows = rows.join(marks, on="example_id", how="left", maintain_order="left")
    return rows.select(EXPORT_COLUMNS)


def file_name(index: int, count: int) -> str:
    return f"{SPLIT}-{index:05d}-of-{count:05d}.parquet"


def config_glob(task_type: str | None) -> str:
    """The data files of one config (``None``: every task type), relative to the folder."""
    return f"{DATA_DIR}/{task_type or '*'}/{SPLIT}-*.parquet"


def write_config(rows: pl.LazyFrame, folder: Path, task_type: str) -> list[tuple[str, int]]:
    """Write one task type's rows as ``data/{task_type}/train-*.parquet``; return (relative path, rows) per file."""
    frame = rows.filter(pl.col("task_type") == task_type).collect()
    count = max(1, math.ceil(frame.height / ROWS_PER_FILE))
    (folder / DATA_DIR / task_type).mkdir(parents=True, exist_ok=True)
    written = []
    for index in range(count):
        relative = f"{DATA_DIR}/{task_type}/{file_name(index, count)}"
        chunk = frame.slice(index * ROWS_PER_FILE, ROWS_PER_FILE)
        chunk.write_parquet(folder / relative, compression="zstd", statistics=True, row_group_size=ROW_GROUP_SIZE)
        written.append((relative, chunk.height))
    return written


@contextmanager
def staged_folder(out: Path) -> Iterator[Path]:
    """A fresh folder beside ``out`` to build the export in; renamed to ``out`` when the block succeeds.

    On an error the staging folder is removed and ``out`` is as it was. An existing ``out``
    (empty, or replaced with ``--overwrite``) is moved aside first and deleted after the swap.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.staging-", dir=out.parent))
    try:
        yield staging
        os.chmod(staging, 0o755)  # mkdtemp makes it private to us; an export is for sharing
        old = None
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.replace(out, old / out.name)
        try:
            os.replace(staging, out)
        except BaseException:
            if old is not None:  # put the previous export back
                os.replace(old / out.name, out)
                old.rmdir()
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
