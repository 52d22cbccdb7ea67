"""Shard data as Hive-partitioned Parquet, one file per part, written with polars.

Layout (other stages and users rely on it)::

    {store}/runs/{run_id}/data/task_type={t}/language={l}/part-{index:05d}.parquet

Each part has a fixed name, so a redone part replaces its file instead of adding a second
one: re-runs can never duplicate rows.

>>> part_file("runs/r1", "sts", "en", 3)
'runs/r1/data/task_type=sts/language=en/part-00003.parquet'
"""

from __future__ import annotations

import io

import polars as pl

from tasks.runs.manifest import Manifest, ShardStatus, find_run
from tasks.runs.schema import ROW_SCHEMA
from tasks.runs.verdicts import added_negatives, dropped_ids, replace_positives, replaced_positives
from tasks.storage.store import Store


def part_file(run_root: str, task_type: str, language: str, index: int) -> str:
    return f"{run_root}/data/task_type={task_type}/language={language}/part-{index:05d}.parquet"


def write_part(store: Store, run_id: str, task_type: str, language: str, index: int, rows: list[dict]) -> str:
    """Write one part's rows atomically; return the path written."""
    frame = pl.DataFrame(rows, schema=ROW_SCHEMA)
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd", statistics=True)
    path = part_file(store.path("runs", run_id), task_type, language, index)
    store.write_bytes(path, buffer.getvalue())
    return path


def _storage_options(store: Store) -> dict | None:
    """polars reads s3 through the same fsspec filesystem configuration."""
    if store.protocol != "s3":
        return None
    kwargs = getattr(store.fs, "client_kwargs", {}) or {}
    options = {"aws_endpoint_url": kwargs["endpoint_url"]} if kwargs.get("endpoint_url") else {}
    if kwargs.get("region_name"):
        options["aws_region"] = kwargs["region_name"]
    if getattr(store.fs, "key", None):  # credentials from a Secret block, not the environment
        options.update(aws_access_key_id=store.fs.key, aws_secret_access_key=store.fs.secret)
    return options or None


def scan_run(store: Store, run_id: str, manifest: Manifest | None = None, filtered: bool = True,
             mined_negatives: bool = False, relabeled: bool = False) -> pl.LazyFrame:
    """Lazily read the committed rows of a run: only parts the manifest marks complete.

    With ``filtered`` (the default) the rows a ``drop`` filter lists (near-duplicates,
    contaminated rows: :mod:`tasks.runs.verdicts`) are left out; ``filtered=False`` reads every
    committed row. With ``mined_negatives`` the rows gain a column ``mined_negatives`` (list of
    str, best first; empty when none were mined): the negatives an ``add`` entry holds
    (:func:`tasks.runs.verdicts.added_negatives`). With ``relabeled`` the positives a ``replace`` entry
    names are read instead of the generated ones (and, with ``mined_negatives``, the old positives the LLM
    found irrelevant come first among the added negatives): what training reads. Raises RunNotFound (a
    FileNotFoundError) if the run has no manifest.
    """
    manifest = manifest or find_run(store, run_id)
    paths = [store.url(p.path.removeprefix(store.root).lstrip("/"))
             for e in manifest.shards.values() for p in e.parts if p.status is ShardStatus.COMPLETE and p.path]
    if not paths:
        empty = pl.LazyFrame(schema=ROW_SCHEMA)
        return empty.with_columns(mined_negatives=pl.lit([], pl.List(pl.String))) if mined_negatives else empty
    if store.protocol == "file":
        paths = [p.removeprefix("file://") for p in paths]
    frame = pl.scan_parquet(paths, schema=ROW_SCHEMA, hive_partitioning=False, storage_options=_storage_options(store))
    if filtered and manifest.filters:
        if (dropped := dropped_ids(store, manifest)) is not None:
            frame = frame.join(dropped, on="example_id", how="anti", maintain_order="left")
    if relabeled and (replaced := replaced_positives(store, manifest)) is not None:
        frame = replace_positives(frame, replaced)
    if mined_negatives:
        mined = added_negatives(store, manifest, relabeled)
        if mined is None:
            frame = frame.with_columns(mined_negatives=pl.lit([], pl.List(pl.String)))
        else:
            frame = (frame.join(mined.rename({"negatives": "mined_negatives"}), on="example_id", how="left",
                                maintain_order="left")
                     .with_columns(pl.col("mined_negatives").fill_null(pl.lit([], pl.List(pl.String)))))
    return frame


def committed_ids(store: Store, paths: list[str]) -> set[str]:
    """The example ids already committed in these part files (exact dedup across a shard's parts)."""
    ids: set[str] = set()
    for path in paths:
        with store.fs.open(path, "rb") as f:
            ids.update(pl.read_parquet(f, columns=["example_id"])["example_id"].to_list())
    return ids


def remove_uncommitted(store: Store, manifest: Manifest) -> list[str]:
    """Delete part files under ``data/`` that no committed part lists (a crash between write and commit).

    Run by the run's single writer (it holds the lease) before it writes, so that any reader's
    glob of the data folder sees exactly the committed rows. Returns the paths removed.
    """
    committed = {p.path for e in manifest.shards.values() for p in e.parts if p.status is ShardStatus.COMPLETE and p.path}
    return store.remove_unlisted(store.path("runs", manifest.run_id, "data", "**", "*.parquet"), committed)
