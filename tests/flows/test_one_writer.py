"""Two `synthembed synthesize` processes on one run id: the second is refused before any request."""

from __future__ import annotations

import subprocess
import time

from tasks.runs.manifest import ShardStatus, load_manifest
from tasks.storage.store import open_store
from tests.support.fake_openai import FakeOpenAI
from tests.support.synthembed_cli import SYNTHEMBED, run_cli, synthesize_argv


def test_a_second_writer_on_the_same_run_exits_2_naming_the_first_and_changes_nothing(prefect_api, tmp_path):
    store_url, run_dir = f"file://{tmp_path}", tmp_path / "runs" / "shared"
    extra = ["--languages", "en", "--task-types", "sts", "--examples-per-shard", "40", "--run-id", "shared",
             "--concurrency", "1"]
    with FakeOpenAI(latency_s=0.5) as server:  # the first run takes ~20 s
        first = subprocess.Popen([SYNTHEMBED, *synthesize_argv(server, store_url, *extra)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not server.requests and time.monotonic() < deadline:
            time.sleep(0.05)
        asked = len(server.requests)
        second = run_cli(synthesize_argv(server, store_url, *extra))
        retry = run_cli(["retry", "--run-id", "shared", "--store", store_url])
        assert first.wait(timeout=120) == 0, first.stderr.read()[-2000:]
    assert second.returncode == 2 and "run 'shared' is being written by" in second.stderr
    assert f":{first.pid} " in second.stderr and "synthembed unlock" in second.stderr
    assert retry.returncode == 2 and "is being written by" in retry.stderr
    assert len(server.requests) == 40 and asked > 0  # the refused ones sent nothing
    manifest = load_manifest(open_store(store_url), "shared")
    assert manifest.shards["sts/en"].status is ShardStatus.COMPLETE and manifest.total_rows() == 40
    assert not (run_dir / "lease.json").exists()  # released at the end


def test_status_and_retry_refuse_run_ids_that_would_escape_the_store(tmp_path):
    for command in ("status", "retry", "unlock"):
        for run_id in ("../outside", "/etc", "a/b", "%2e%2e", "．．", ""):
            result = run_cli([command, "--run-id", run_id, "--store", f"file://{tmp_path}/store"])
            assert result.returncode == 2 and "is not allowed" in result.stderr, (command, run_id, result.stderr)
    assert not (tmp_path / "outside").exists()
