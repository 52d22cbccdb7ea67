"""The rough edges a new user hits first (issue 19, item 9), each through the command line.

* ``--decontaminate mark``: the marked rows are exported with a column saying which, and why;
* a budget stop: ``status`` shows why the run stopped, and the retry command printed raises the
  budget, so that following it finishes the run;
* ``synthembed status ... | head -1``: the reader leaving early is no traceback.
"""

from __future__ import annotations

import shlex
import subprocess

import polars as pl

from flows.cli import main
from tasks.runs.manifest import ShardStatus, load_manifest
from tasks.storage.store import open_store
from tests.support.fake_openai import FakeOpenAI
from tests.support.real_text import passage
from tests.support.runs import row, write_run
from tests.support.synthembed_cli import SYNTHEMBED, run_cli, synthesize_argv

PLANTED = "The range depends on the shape of the coastline and the depth of the water at that place."


def test_rows_a_mark_filter_flagged_are_exported_with_why(tmp_path, capsys):
    # Given a run whose rows 1 and 3 hold a passage of the user's evaluation set, cleaned with --decontaminate mark
    store_url = f"file://{tmp_path}/store"
    rows = [row(i, query=f"Question {i} about tides?", positive=passage("en", 120, seed=i)) for i in range(5)]
    for i in (1, 3):
        rows[i]["positive"] = f"Some context first. {PLANTED} And more text after it, of the row's own."
    write_run(store_url, "r1", rows)
    planted = tmp_path / "my_eval.txt"
    planted.write_text(PLANTED + "\n", encoding="utf-8")
    assert main(["clean", "--run-id", "r1", "--store", store_url, "--decontaminate", "mark", "--no-offline-suite",
                 "--no-near-dedup", "--meaning", "off", "--mine-negatives", "0", "--eval-texts", str(planted)]) == 0
    # When it is exported
    assert main(["export", "--run-id", "r1", "--store", store_url, "--out", str(tmp_path / "out")]) == 0
    # Then every row is there, and the column `marked` names the flagged ones and why (was: no trace of the marks)
    exported = pl.read_parquet(tmp_path / "out" / "data" / "sts" / "train-00000-of-00001.parquet")
    marked = dict(zip(exported["example_id"], exported["marked"]))
    assert len(marked) == 5
    assert {i for i, why in marked.items() if why} == {f"{1:016x}", f"{3:016x}"}
    assert marked[f"{1:016x}"] == f"contaminated (field=positive, source=file:{planted})"
    card = (tmp_path / "out" / "README.md").read_text()
    assert "| `marked` | why a `mark` filter flagged the row" in card


def test_a_budget_stop_is_shown_by_status_and_its_retry_command_raises_the_budget_and_finishes(prefect_api, tmp_path):
    store_url = f"file://{tmp_path}"
    extra = ["--languages", "en", "--task-types", "sts", "--examples-per-shard", "40", "--run-id", "b",
             "--concurrency", "4", "--budget-tokens", "2500"]
    with FakeOpenAI() as server:
        first = run_cli(synthesize_argv(server, store_url, *extra))
        status = run_cli(["status", "--run-id", "b", "--store", store_url])
        # the last line of stderr: the command to run next
        hint = shlex.split(first.stderr.strip().splitlines()[-1])
        retry = run_cli(hint[1:], timeout_s=300)
    assert first.returncode == 1 and "stopped early: token budget" in first.stderr, first.stderr[-2000:]
    assert status.returncode == 0
    assert "stopped_reason: token budget: " in status.stdout  # why it stopped (was: not shown)
    assert hint[:6] == ["synthembed", "retry", "--run-id", "b", "--store", store_url]
    assert hint[6] == "--budget-tokens" and int(hint[7]) > 2500, hint  # (was: no budget, so the retry stopped again)
    assert retry.returncode == 0, retry.stderr[-2000:]
    manifest = load_manifest(open_store(store_url), "b")
    assert manifest.shards["sts/en"].status is ShardStatus.COMPLETE and manifest.stopped_reason is None
    assert manifest.config["budget_tokens"] == 2500  # the stored run keeps its own budget


def test_status_piped_into_head_ends_without_a_traceback(tmp_path):
    store_url = f"file://{tmp_path}"
    write_run(store_url, "r1", [row(i) for i in range(3)])
    # the reader is gone before the command writes (what `| head -1` does once it has its line)
    child = subprocess.Popen([SYNTHEMBED, "status", "--run-id", "r1", "--store", store_url], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    child.stdout.close()
    err = child.stderr.read()
    assert child.wait(timeout=120) == 141, err
    assert err == "", err  # (was: a BrokenPipeError traceback)
    shell = subprocess.run(f"{shlex.quote(SYNTHEMBED)} status --run-id r1 --store {shlex.quote(store_url)} | head -1",
                           shell=True, capture_output=True, text=True, timeout=120)
    assert shell.stdout.startswith("shard") and shell.stderr == "", shell.stderr
