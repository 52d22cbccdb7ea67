"""Ctrl-C during ``synthembed synthesize``: a graceful stop that pays for nothing twice.

SIGINT to the running console script (what Ctrl-C sends): no further request is sent, the requests
on the wire are answered and recorded, every part's accounting is saved, and the command exits 130
with one line (no traceback, no Prefect "Crash detected!"). ``synthembed status`` then agrees with
the ledger, and the same command again finishes the run: over both processes the server answers
exactly the plan's requests, each once.
"""

from __future__ import annotations

import re
import signal
import subprocess

from tests.support.fake_openai import FakeOpenAI
from tests.support.ledger_files import ledger_keys, ledger_records
from tests.support.synthembed_cli import SYNTHEMBED, run_cli, synthesize_argv
from tests.support.waiting import wait_for

EXTRA = ["--languages", "en", "--task-types", "sts", "--examples-per-shard", "120", "--run-id", "ctrlc",
         "--concurrency", "8"]


def _calls_in_status(stdout: str, task_type: str) -> int:
    """The ``calls`` column of a task type's row in the per-task-type table ``status`` prints."""
    [row] = [line.split() for line in stdout.splitlines() if line.split()[:1] == [task_type]]
    return int(row[5])  # task_type shards requested rows yield calls ...


def test_ctrl_c_records_every_answer_says_one_line_and_the_rerun_pays_for_none_twice(prefect_api, tmp_path):
    store_url, run_dir = f"file://{tmp_path}", tmp_path / "runs" / "ctrlc"
    with FakeOpenAI(latency_s=0.3) as server:
        dry = run_cli(synthesize_argv(server, store_url, *EXTRA, "--dry-run"))
        planned = int(re.search(r"(\d+) first-try requests", dry.stdout).group(1))
        # Given a run of 120 requests, 8 at a time, interrupted once 24 have been sent
        child = subprocess.Popen([SYNTHEMBED, *synthesize_argv(server, store_url, *EXTRA)], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)
        wait_for(lambda: len(server.requests) >= 24 or child.poll() is not None, timeout_s=120)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=120)
        asked_first = len(server.requests)
        recorded = ledger_records(run_dir)
        status = run_cli(["status", "--run-id", "ctrlc", "--store", store_url])
        # When the same command runs again
        rerun = run_cli(synthesize_argv(server, store_url, *EXTRA))

    # Then the interrupted run exited 130 with one line, no traceback ...
    assert child.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "Crash detected" not in err, err[-3000:]
    said = [line for line in err.splitlines() if line.startswith("interrupted")]
    assert len(said) == 1 and err.strip().splitlines()[-1] == said[0], err[-3000:]
    assert "run the same command again" in said[0]
    # ... having sent fewer than planned and recorded an answer to every request it sent ...
    assert 24 <= asked_first < planned
    assert len(recorded) == asked_first and len({r["key"] for r in recorded}) == asked_first
    # ... status agrees with the ledger, and names why the run stopped ...
    assert status.returncode == 0 and _calls_in_status(status.stdout, "sts") == len(recorded), status.stdout
    assert "stopped_reason: interrupted (Ctrl-C)" in status.stdout
    # ... and the rerun finished the run paying only for the rest: the plan's requests, each answered once.
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert planned == 120 and len(server.requests) == planned
    assert len(ledger_keys(run_dir)) == planned
