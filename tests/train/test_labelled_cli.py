"""`synthembed train --data` with labelled sets beside a synthesis run: trained through Ray end to end, and a
labelled set of the wrong shape refused in one line before Ray starts."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl

from tests.support.runs import training_run
from tests.train.test_labelled_data import labelled_datasets, labelled_parquet
from tests.train.tiny import save_tiny_base

SYNTHEMBED = str(Path(sys.executable).parent / "synthembed")


def _train(*args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([SYNTHEMBED, "train", *args], capture_output=True, text=True, timeout=timeout)


def test_a_labelled_set_without_the_columns_is_one_error_before_ray(tmp_path):
    pl.DataFrame({"question": ["q"], "answer": ["a"]}).write_parquet(tmp_path / "pairs.parquet")
    result = _train("--data", f"{training_run(tmp_path, 'r1', 10)},{tmp_path / 'pairs.parquet'}",
                    "--base-model", "smollm2-135m", "--out", f"file://{tmp_path}/out", "--batch-size", "4",
                    "--labelled-overlap", "off", timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1 and "needs the columns anchor (or query) and positive" in errors[0], errors
    assert "question, answer" in errors[0] and "ray" not in result.stderr.lower().replace("array", "")
    assert not (tmp_path / "out").exists()


def test_train_mixes_a_parquet_folder_and_a_datasets_folder_with_a_run(prefect_api, tmp_path):
    # Given a synthesis run, a labelled Parquet folder (two negatives per row) and a save_to_disk folder ...
    base = save_tiny_base(tmp_path / "base")
    data = [training_run(tmp_path, "r1", 16), labelled_parquet(tmp_path / "pq", n=16),
            labelled_datasets(tmp_path / "ds", n=16)]
    out = f"file://{tmp_path}/out"
    # ... when training mixes them 2:1:1 with two negatives per query, held-out rows and early stopping ...
    result = _train("--data", ",".join(data), "--data-weights", "2,1,1", "--base-model", str(base), "--out", out,
                    "--batch-size", "4", "--mini-batch-size", "4", "--epochs", "0.5", "--max-length", "16",
                    "--lora-rank", "2", "--warmup-steps", "0", "--negatives-per-query", "2", "--eval-every", "2",
                    "--early-stop-patience", "5", "--cpus-per-worker", "1")
    # ... then it trains, logs the held-out loss, and stores a model whose config names every source and weight.
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training pairs from 3 source(s), 6 steps" in result.stderr  # 43 rows after holding out 5, half an epoch
    assert "held-out loss" in result.stderr and "best_heldout_loss" in result.stdout
    config = json.loads((tmp_path / "out" / "model" / "synthembed_train_config.json").read_text())
    assert config["data"] == data[:2] + [f"file://{tmp_path}/ds"] and config["data_weights"] == [2, 1, 1]
    assert config["steps"] == 6 and config["negatives_per_query"] == 2 and config["data_digest"]
    assert (tmp_path / "out" / "loss.png").is_file()
