"""A model card as training writes it, for the training-card and evaluation-card tests, and readers of its parts.

:func:`trained_model` writes the small run (:mod:`tests.support.small_run`) with a drop filter,
and the card of a model "trained" on it (no Ray: the card functions are called directly).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import polars as pl
import yaml

from tasks.common.plots import loss_curve_png
from tasks.runs.manifest import FilterEntry, load_manifest, save_manifest
from tasks.storage.store import open_store
from tasks.train.card import TRAIN_CONFIG_FILE, write_model_card
from tasks.train.config import TrainConfig
from tests.support.small_run import ROWS, SECRET, make_run

HISTORY = [{"step": s, "loss": loss, "lr": 1e-4, "grad_norm": 1.0, "tokens_per_s": tps, "examples_per_s": 2.0,
            "seconds_per_step": 2.0} for s, loss, tps in [(1, 3.2109, 400.0), (2, 2.5, 500.0), (3, 1.0625, 520.0)]]
DROPPED = ["reten0000", "stses0001"]  # one retrieval/en and one sts/es row, left out by a drop filter


def train_config(data_url: str, out_url: str, **changes) -> TrainConfig:
    return TrainConfig(data=[data_url], base_model="smollm2-135m", out=out_url, batch_size=4, steps=3,
                       learning_rate=3e-4, lora_rank=8, **changes)


def parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer)
    return buffer.getvalue()


def drop_rows(store_url: str, run_id: str, ids: list[str]) -> None:
    """A near-duplicate filter that drops ``ids``, recorded as tasks.clean.filters records one."""
    store = open_store(store_url)
    path = store.path("runs", run_id, "filters", "near_duplicates.parquet")
    frame = pl.DataFrame({"example_id": ids, "reason": ["near_duplicate"] * len(ids)})
    store.write_bytes(path, parquet_bytes(frame))
    manifest = load_manifest(store, run_id)
    manifest.filters["near_duplicates"] = FilterEntry(path=path, rows_checked=sum(ROWS.values()),
                                                      counts={"near_duplicate": len(ids)})
    save_manifest(store, manifest)


def trained_model(tmp_path: Path) -> tuple[TrainConfig, Path]:
    """The small run with a drop filter, and the card written for a model trained on it: (config, model folder)."""
    store_url = f"file://{tmp_path / 'store'}"
    make_run(store_url)
    drop_rows(store_url, "r1", DROPPED)
    config = train_config(f"{store_url}/runs/r1", f"file://{tmp_path / 'models' / 'm1'}",
                          extra={"api_token": SECRET, "note": "first try"})
    model = tmp_path / "models" / "m1" / "model"
    model.mkdir(parents=True)
    (model / TRAIN_CONFIG_FILE).write_text(json.dumps(config.to_dict()))  # what publish_model writes
    write_model_card(config, HISTORY, loss_curve_png(HISTORY))
    return config, model


def front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def table_row(card: str, first_cell: str) -> list[str]:
    """The cells of the card's table row that starts with ``first_cell``."""
    line = next(line for line in card.splitlines() if line.startswith(f"| {first_cell} |"))
    return [cell.strip() for cell in line.strip("|").split("|")]
