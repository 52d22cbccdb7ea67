"""Where training rows come from: a synthesis run, or a labelled set in sentence-transformers' columns.

``--data`` takes, beside synthesis run URLs (``{store}/runs/{run_id}``):

* a Parquet file, or a folder of them (every ``*.parquet`` below it; a path, ``file://`` or ``s3://``);
* a Hugging Face ``datasets`` folder written by ``save_to_disk`` (a ``Dataset``, or a
  ``DatasetDict``: its ``train`` split), read offline with ``datasets.load_from_disk``;
* ``hf://OWNER/NAME`` or ``hf://OWNER/NAME@SPLIT`` (default ``train``): a hub dataset, where
  the hub is reachable.

Labelled rows follow sentence-transformers' column convention: the query in ``anchor`` (or
``query``), ``positive``, and optionally ``negative`` or ``negative_1`` … ``negative_n``. The
paper trains on labelled data beside the synthetic (MTEB 66.6 against 63.1 synthetic-only).
Training knows no prompts, so each labelled query gets one plain instruction string
(``labelled_instruction``) in the E5 format, and the task type ``labelled``
(:func:`tasks.train.data.read_source_pairs` makes the pairs). The checks are
those a synthesis run gets: the schema (one error naming the columns found), rows with an
empty query or positive left out (an error if none is left), exact duplicate (query,
positive) rows kept once; rows whose :func:`row_key` is in ``excluded`` (the flows find those
that overlap evaluation data) are left out.

>>> import polars as pl
>>> frame = labelled_rows("x.parquet", pl.DataFrame({"anchor": ["q1", "q1", ""], "positive": ["p1", "p1", "p2"],
...                                                    "negative_1": ["n1", "n1", None], "negative_2": ["m1", None, None]}))
>>> frame.rows()
[('q1', 'p1', ['n1', 'm1'])]
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import polars as pl

LABELLED_TASK_TYPE = "labelled"
HUB_PREFIX = "hf://"
QUERY_COLUMNS = ("anchor", "query")
DATASETS_MARKERS = ("state.json", "dataset_dict.json")  # what save_to_disk writes (Dataset, DatasetDict)
SourceKind = Literal["run", "parquet", "datasets", "hub"]
log = logging.getLogger(__name__)


def source_kind(url: str) -> SourceKind:
    """What a ``--data`` entry names; anything not recognisably labelled is read as a synthesis run
    (whose reader then says what is missing)."""
    from tasks.storage.store import open_store

    if url.startswith(HUB_PREFIX):
        return "hub"
    store = open_store(url)
    root = store.root
    if store.fs.isfile(root):
        return "parquet" if root.endswith(".parquet") else "run"
    if not store.fs.isdir(root) or store.fs.exists(f"{root}/manifest.json"):
        return "run"
    if any(store.fs.exists(f"{root}/{marker}") for marker in DATASETS_MARKERS):
        return "datasets"
    return "parquet" if store.fs.glob(f"{root}/**/*.parquet") else "run"


def _read_parquet(url: str) -> pl.DataFrame:
    import polars as pl

    from tasks.storage.store import open_store

    store = open_store(url)
    files = [store.root] if store.fs.isfile(store.root) else sorted(store.fs.glob(f"{store.root}/**/*.parquet"))
    frames = []
    for path in files:
        with store.fs.open(path, "rb") as file:
            frames.append(pl.read_parquet(file))
    return pl.concat(frames, how="diagonal_relaxed")


def _read_datasets(url: str, kind: SourceKind) -> pl.DataFrame:
    import datasets

    if kind == "hub":
        name, _, split = url.removeprefix(HUB_PREFIX).partition("@")
        try:
            found = datasets.load_dataset(name, split=split or "train")
        except Exception as exc:  # offline, unknown name, no such split: all mean "cannot read it"
            raise ValueError(f"{url}: cannot load the hub dataset ({str(exc).splitlines()[0][:200]})") from None
    else:
        from tasks.storage.store import open_store

        store = open_store(url)
        if store.protocol != "file":
            raise ValueError(f"{url}: a datasets folder must be local (save_to_disk); use Parquet files on {store.protocol}")
        found = datasets.load_from_disk(store.root)
        if isinstance(found, datasets.DatasetDict):
            if "train" not in found:
                raise ValueError(f"{url}: a DatasetDict without a 'train' split (has {', '.join(found)})")
            found = found["train"]
    return found.to_polars()


def negative_columns(columns: list[str]) -> list[str]:
    """``negative`` and ``negative_1`` … ``negative_n``, in that order.

    >>> negative_columns(["anchor", "negative_10", "negative_2", "positive", "negative"])
    ['negative', 'negative_2', 'negative_10']
    """
    numbered = [c for c in columns if c.startswith("negative_") and c.removeprefix("negative_").isdigit()]
    return [*(["negative"] if "negative" in columns else []), *sorted(numbered, key=lambda c: int(c[9:]))]


def labelled_rows(url: str, frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` in sentence-transformers' columns → (query, positive, negatives: list[str]), checked."""
    import polars as pl

    query = next((c for c in QUERY_COLUMNS if c in frame.columns), None)
    text_columns = [query, "positive", *negative_columns(frame.columns)] if query else []
    if query is None or "positive" not in frame.columns:
        raise ValueError(f"{url}: labelled data needs the columns anchor (or query) and positive, optionally "
                         f"negative or negative_1..n (sentence-transformers' convention); found "
                         f"{', '.join(frame.columns) or 'none'}")
    if wrong := [c for c in text_columns if frame.schema[c] not in (pl.String, pl.Null)]:
        raise ValueError(f"{url}: column(s) {', '.join(wrong)} must hold text, found "
                         f"{', '.join(str(frame.schema[c]) for c in wrong)}")
    rows = frame.select(
        pl.col(query).fill_null("").alias("query"), pl.col("positive").fill_null("").alias("positive"),
        pl.concat_list([pl.col(c).cast(pl.String) for c in text_columns[2:]]).list.drop_nulls()
        .list.filter(pl.element().str.len_chars() > 0).alias("negatives") if text_columns[2:]
        else pl.lit([], dtype=pl.List(pl.String)).alias("negatives"))
    usable = rows.filter(pl.col("query").str.strip_chars().str.len_chars() > 0,
                         pl.col("positive").str.strip_chars().str.len_chars() > 0)
    if usable.height == 0:
        raise ValueError(f"{url}: no training rows (every row lacks a query or a positive)")
    unique = usable.unique(["query", "positive"], keep="first", maintain_order=True)
    if dropped := frame.height - unique.height:
        log.info("%s: %d of %d rows left out (empty query or positive, or an exact duplicate)", url, dropped, frame.height)
    return unique


def row_key(query: str, positive: str) -> str:
    """A labelled row's identity, for ``excluded``: 16 hex digits of a hash of its query and positive.

    >>> row_key("q", "p") == row_key("q", "p") != row_key("q", "p2")
    True
    """
    return hashlib.sha256(json.dumps([query, positive]).encode()).hexdigest()[:16]


def read_labelled(url: str) -> pl.DataFrame:
    """A labelled source's checked rows: (query, positive, negatives)."""
    kind = source_kind(url)
    if kind == "run":
        raise ValueError(f"{url} is a synthesis run, not a labelled set")
    return labelled_rows(url, _read_parquet(url) if kind == "parquet" else _read_datasets(url, kind))
