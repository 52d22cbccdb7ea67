"""``synthembed export``: the folder ``datasets`` reads, the card's numbers, the charts, and refusals.

Most tests export the small run of :mod:`tests.support.small_run` in process; the push test runs the
installed console script, as a user would, with the hub offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from datasets import load_dataset
from huggingface_hub import DatasetCard

from flows.cli import main
from flows.export import export
from tasks.common.hub import HubUnavailable, push_folder
from tasks.export.dataset import EXPORT_COLUMNS, staged_folder
from tests.support.file_hashes import snapshot
from tests.support.small_run import MODEL, ROWS, SECRET, make_run

TOTAL = sum(ROWS.values())


def _by(index: int) -> dict[str, int]:
    counts: dict[str, int] = {}
    for key, n in ROWS.items():
        counts[key[index]] = counts.get(key[index], 0) + n
    return counts


@pytest.fixture
def exported(run_store, tmp_path) -> Path:
    store_url, run_id = run_store
    summary = export(store_url, run_id, tmp_path / "out")
    assert summary["rows"] == TOTAL and summary["hub_error"] is None
    return Path(summary["out"])


def test_datasets_reads_every_config_with_the_right_rows(exported, tmp_path):
    cache = str(tmp_path / "hf-cache")
    everything = load_dataset(str(exported), split="train", cache_dir=cache)  # the default config: all
    assert everything.num_rows == TOTAL
    assert everything.column_names == list(EXPORT_COLUMNS)
    for task_type, rows in _by(0).items():
        config = load_dataset(str(exported), task_type, split="train", cache_dir=cache)
        assert config.num_rows == rows
        assert set(config["task_type"]) == {task_type}
    # without the card: plain Parquet, the whole data folder or one task type
    assert load_dataset("parquet", data_dir=str(exported / "data"), split="train", cache_dir=cache).num_rows == TOTAL
    sts = load_dataset("parquet", data_dir=str(exported / "data" / "sts"), split="train", cache_dir=cache)
    assert sts.num_rows == _by(0)["sts"]
    row = sts[0]
    assert row["model"] == MODEL and json.loads(row["placeholders"])["language"] == row["language"]


def test_card_metadata_and_tables_match_the_data(exported):
    text = (exported / "README.md").read_text()
    card = DatasetCard.load(exported / "README.md")
    assert card.data.language == ["en", "es", "fr", "ja"]  # fr: the bitext target
    assert card.data.license == "other" and card.data.size_categories == ["n<1K"]
    assert card.data.task_categories == ["sentence-similarity", "text-retrieval"]
    configs = {c["config_name"]: c for c in card.data.configs}
    assert list(configs) == ["all", "retrieval", "sts", "bitext"] and configs["all"]["default"] is True
    assert configs["sts"]["data_files"] == [{"split": "train", "path": "data/sts/train-*.parquet"}]
    for language, name in (("en", "English"), ("es", "Spanish"), ("ja", "Japanese")):
        cells = [ROWS[(t, language)] for t in ("retrieval", "sts", "bitext")]
        assert f"| {language} ({name}) | {' | '.join(map(str, cells))} | {sum(cells)} |" in text
    totals = _by(0)
    assert f"| **total** | {totals['retrieval']} | {totals['sts']} | {totals['bitext']} | {TOTAL} |" in text
    assert "| retrieval | 2/3 | 18 | 12 | 67% |" in text  # yield: rows / requested, ja unfinished
    assert "**Partial run:** 3 shard(s)" in text
    assert "| invalid_json | 6 | 6 | 6 | 18 |" in text  # rejects by reason, from the manifest
    assert f"`{MODEL}`" in text and "| temperature | `1.0` |" in text and "repeat_penalty=1.1" in text
    assert "## Filters" not in text  # the manifest records none
    assert SECRET not in text and "llm.example" not in text and str(exported.parent) not in text


def test_charts_exist_and_the_card_shows_them(exported):
    text = (exported / "README.md").read_text()
    for name in ("languages.png", "lengths.png", "task_diversity.png"):
        png = (exported / "plots" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5_000
        assert f"](plots/{name})" in text


def test_filters_recorded_in_the_manifest_are_rendered(run_store, tmp_path):
    store_url, run_id = run_store
    path = Path(store_url.removeprefix("file://"), "runs", run_id, "manifest.json")
    raw = json.loads(path.read_text())
    verdicts = path.parent / "filters" / "near_duplicates.parquet"  # as tasks.clean.filters writes them
    verdicts.parent.mkdir()
    pl.DataFrame({"example_id": [f"gone{i}" for i in range(7)], "reason": ["near_duplicate_query"] * 7}).write_parquet(verdicts)
    raw["filters"] = {
        "near_duplicates": {"path": str(verdicts), "action": "drop", "rows_checked": 40,
                            "counts": {"near_duplicate_query": 7}},
        "contamination": {"path": "unread", "action": "mark", "rows_checked": 40, "counts": {"contaminated": 2}}}
    path.write_text(json.dumps(raw))
    text = Path(export(store_url, run_id, tmp_path / "out")["card"]).read_text()
    assert "## Filters" in text and "| near_duplicates | drop | near_duplicate_query | 7 | 40 |" in text
    assert "| contamination | mark | contaminated | 2 | 40 |" in text


def test_cli_exports_and_prints_what_it_wrote(run_store, tmp_path, capsys):
    store_url, run_id = run_store
    assert main(["export", "--store", store_url, "--run-id", run_id, "--out", str(tmp_path / "cli")]) == 0
    captured = capsys.readouterr()
    assert "wrote data/retrieval/train-00000-of-00001.parquet (12 rows)" in captured.err
    assert f"exported {TOTAL} rows" in captured.err and "wrote README.md" in captured.err
    assert "retrieval" in captured.out and f"dataset: {tmp_path / 'cli'}" in captured.out
    assert SECRET not in captured.out + captured.err


def test_non_empty_out_is_refused_untouched_then_replaced_with_overwrite(run_store, tmp_path, capsys):
    store_url, run_id = run_store
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    before = snapshot(out)
    argv = ["export", "--store", store_url, "--run-id", run_id, "--out", str(out)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "is not empty" in err and "--overwrite" in err
    assert snapshot(out) == before
    assert main([*argv, "--overwrite"]) == 0
    assert not (out / "keep.txt").exists() and (out / "README.md").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["busy", "store"]  # no staging folder left


@pytest.mark.parametrize("argv, message", [
    (["--run-id", "nope"], "no synthesis run 'nope'"),
    (["--run-id", "../x"], "run id '../x' is not allowed"),
    (["--run-id", "empty"], "run 'empty' has no committed rows (1/2 shards complete): nothing to export"),
    (["--run-id", "r1", "--push-to-hub", "not a repo"], "is not a hub repository id"),
    (["--run-id", "r1", "--private"], "--private goes with --push-to-hub"),
    (["--run-id", "r1", "--store", "ftp://host/x"], "unsupported scheme 'ftp'"),
])
def test_bad_input_is_one_line_and_exit_2(run_store, tmp_path, capsys, argv, message):
    store_url, _ = run_store
    make_run(store_url, "empty", rows={("sts", "en"): 0, ("sts", "ja"): 0})
    out = tmp_path / "out"
    assert main(["export", "--store", store_url, "--out", str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("error: ") and message in err
    assert not out.exists()


def test_push_offline_fails_clearly_and_keeps_the_folder(run_store, tmp_path):
    store_url, run_id = run_store
    out = tmp_path / "pushed"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_TOKEN": "hf_planted_token_abc"}
    result = subprocess.run([str(Path(sys.executable).parent / "synthembed"), "export", "--store", store_url,
                             "--run-id", run_id, "--out", str(out), "--push-to-hub", "someone/synthetic"],
                            check=False, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1, result.stderr
    error = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error) == 1 and "offline" in error[0] and f"complete at {out}" in error[0]
    assert "hf upload someone/synthetic" in error[0]
    assert (out / "README.md").exists() and len(list((out / "data").rglob("*.parquet"))) == 3
    assert "hf_planted_token_abc" not in result.stdout + result.stderr


def test_push_without_network_names_the_hub_unreachable(exported, monkeypatch):
    import socket

    import huggingface_hub.constants

    def refuse(*args, **kwargs):
        raise OSError("network access in an offline test")

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("HF_TOKEN", "hf_planted_token_abc")
    with pytest.raises(HubUnavailable, match="cannot reach the Hugging Face hub") as caught:
        push_folder(exported, "someone/synthetic")
    assert f"complete at {exported}" in str(caught.value) and "hf_planted_token_abc" not in str(caught.value)


def test_a_failed_export_leaves_the_previous_one_untouched(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "README.md").write_text("previous export")
    with pytest.raises(RuntimeError), staged_folder(out) as folder:
        (folder / "README.md").write_text("half of a new one")
        raise RuntimeError("disk full")
    assert (out / "README.md").read_text() == "previous export"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
