"""Services restarted mid-run, on 127.0.0.1 and bounded in time: the run rides through and loses nothing.

* The LLM server is killed and a new one started on the same port: requests in flight fail,
  are retried with backoff, and the run completes; nothing answered is asked again.
* The embedded llama.cpp server (``llama-server``) is killed (-9) under the CLI that started it: the CLI restarts
  it on the same port, the requests retry meanwhile, and the run completes.
* SeaweedFS is stopped and restarted during part writes: writes are retried, no partial or
  corrupt Parquet is committed, and the run completes.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import urlparse

import polars as pl
import pytest

from infra.services.seaweedfs import local_s3
from tasks.runs.manifest import ShardStatus, load_manifest
from tasks.runs.parts import scan_run
from tasks.storage.store import check_store, open_store
from tests.support.fake_openai import FakeOpenAI
from tests.support.ledger_files import ledger_keys, ledger_records
from tests.support.synthembed_cli import E2E_LENGTHS, NO_TEACHER, SYNTHEMBED, assert_rows_are_valid
from tests.support.waiting import wait_for


def _synthesize(base_url: str, store_url: str, run_id: str, log, env: dict | None = None) -> subprocess.Popen:
    """The CLI in a child process; its output goes to ``log`` (a pipe nobody reads would block it)."""
    return subprocess.Popen([SYNTHEMBED, "synthesize", "--store", store_url, "--llm-base-url", base_url,
                             "--llm-model", "fake-model", "--languages", "en,de", "--task-types", "sts",
                             "--examples-per-shard", "60", "--part-size", "15", "--run-id", run_id,
                             "--concurrency", "4", "--timeout", "2", "--max-retries", "8", *NO_TEACHER],
                            stdout=log, stderr=subprocess.STDOUT, env=env)


def test_the_llm_server_killed_and_restarted_mid_run(prefect_api, tmp_path):
    store_url, run_dir = f"file://{tmp_path}", tmp_path / "runs" / "llm-restart"
    first = FakeOpenAI(latency_s=0.05).__enter__()
    port = urlparse(first.base_url).port
    log = (tmp_path / "cli.log").open("w")
    child = _synthesize(first.base_url, store_url, "llm-restart", log)
    try:
        wait_for(lambda: len(first.requests) >= 40)
        first.__exit__(None, None, None)  # killed: connections refused from now on
        time.sleep(2.0)
        with FakeOpenAI(latency_s=0.05, port=port) as second:  # back on the same address
            assert child.wait(timeout=180) == 0, (tmp_path / "cli.log").read_text()[-3000:]
    finally:
        child.kill()
    manifest = load_manifest(open_store(store_url), "llm-restart")
    assert all(e.status is ShardStatus.COMPLETE for e in manifest.shards.values())
    asked = len(first.requests) + len(second.requests)
    assert len(ledger_keys(run_dir)) == 120 and asked - 120 <= 4  # only what was in flight at the kill was lost
    frame = scan_run(open_store(store_url), "llm-restart", filtered=False).collect()
    assert frame["example_id"].n_unique() == frame.height == manifest.total_rows()
    assert_rows_are_valid(frame)


def _llama_server_of(pid: int) -> int | None:
    """The pid of the llama.cpp server that process ``pid`` started, if it runs."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if parent == pid and b"llama-server" in command.split(b"\0", 1)[0]:
            return int(stat.parent.name)
    return None


@pytest.mark.soak  # the real Qwen2.5-Coder-0.5B on 2 cores, ~2-4 min: `make soak`
def test_the_embedded_llama_cpp_server_killed_mid_run(prefect_api, tmp_path):
    store_url, run_dir = f"file://{tmp_path}", tmp_path / "runs" / "llama-kill"
    command = [SYNTHEMBED, "synthesize", "--store", store_url, "--languages", "en", "--task-types", "sts",
               "--examples-per-shard", "6", "--part-size", "3", "--concurrency", "2", "--run-id", "llama-kill",
               *E2E_LENGTHS, *NO_TEACHER]
    log_path = tmp_path / "cli.log"
    with log_path.open("w") as log:
        child = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: len(ledger_keys(run_dir)) >= 1, timeout_s=600)  # answers are arriving
            killed = _llama_server_of(child.pid)
            assert killed is not None, log_path.read_text()[-3000:]
            os.kill(killed, signal.SIGKILL)
            first = child.wait(timeout=900)
        finally:
            child.kill()
    text = log_path.read_text()
    assert "llama.cpp server exited with code -9; restarting it (1 of at most 3)" in text, text[-3000:]
    if first not in (0, 3):  # a request that ran out of retries during the restart: the rerun finishes
        again = subprocess.run(command, capture_output=True, text=True, timeout=900)
        assert again.returncode in (0, 3), again.stderr[-3000:]
    manifest = load_manifest(open_store(store_url), "llama-kill")
    assert all(e.status is ShardStatus.COMPLETE for e in manifest.shards.values()), text[-3000:]
    records = ledger_records(run_dir)
    assert len(records) == len({r["key"] for r in records}) >= 6  # nothing answered was asked again
    frame = scan_run(open_store(store_url), "llama-kill", filtered=False).collect()
    assert frame.height == manifest.total_rows() > 0
    print(f"\nllama.cpp killed mid-run: the first run exited {first}")


@pytest.mark.soak  # timing-sensitive on 2 shared cores: `make soak`
def test_seaweedfs_stopped_and_restarted_during_part_writes(prefect_api, tmp_path, monkeypatch):
    with local_s3(tmp_path / "weed", access_key=f"k{secrets.token_hex(3)}", secret_key=secrets.token_hex(12)) as s3, \
            FakeOpenAI(latency_s=0.05) as server:
        for key, value in s3.env().items():
            monkeypatch.setenv(key, value)
        env = {**os.environ}
        store_url = f"s3://restart-{secrets.token_hex(3)}/root"
        check_store(open_store(store_url))
        log = (tmp_path / "cli.log").open("w")
        child = _synthesize(server.base_url, store_url, "s3-restart", log, env)
        try:
            wait_for(lambda: len(server.requests) >= 30)  # parts are being committed
            s3.service.stop()
            time.sleep(3.0)  # writes fail meanwhile, answers keep arriving
            s3.service.start()
            assert child.wait(timeout=240) == 0, (tmp_path / "cli.log").read_text()[-3000:]
        finally:
            child.kill()
        store = open_store(store_url)
        manifest = load_manifest(store, "s3-restart")
        assert all(e.status is ShardStatus.COMPLETE for e in manifest.shards.values()), (
            manifest.updated_at, {k: [(p.status.value, p.error) for p in e.parts] for k, e in manifest.shards.items()},
            (tmp_path / "cli.log").read_text()[-3000:])
        for entry in manifest.shards.values():
            for part in entry.parts:  # every committed file is whole, valid Parquet with its rows
                with store.fs.open(part.path, "rb") as f:
                    assert pl.read_parquet(f).height == part.rows
        frame = scan_run(store, "s3-restart", filtered=False).collect()
        assert frame.height == manifest.total_rows() and frame["example_id"].n_unique() == frame.height
        assert len(server.requests) - 120 <= 4
        assert_rows_are_valid(frame)


@pytest.mark.soak  # starts a second Prefect server: `make soak`
def test_the_prefect_server_restarted_during_a_synthesis_flow(tmp_path):
    """A Prefect server of its own (another port and home) is stopped for 3 s mid-flow and restarted.

    The flow either rides through (Prefect's client retries its API calls) or fails cleanly;
    either way the same command then completes and nothing answered is asked again.
    """
    import sys
    from pathlib import Path

    from infra.services.process import ServiceProcess, free_port

    port = free_port()
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": f"http://127.0.0.1:{port}/api"}
    command = [str(Path(sys.executable).parent / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
    prefect = ServiceProcess("prefect server", command, f"http://127.0.0.1:{port}/api/health", tmp_path / "prefect.log",
                             env=env, start_timeout_s=120)
    store_url, run_dir = f"file://{tmp_path}/store", tmp_path / "store" / "runs" / "prefect-restart"
    with prefect, FakeOpenAI(latency_s=0.1) as server:
        log = (tmp_path / "cli.log").open("w")
        child = _synthesize(server.base_url, store_url, "prefect-restart", log, env)
        try:
            wait_for(lambda: len(server.requests) >= 30)
            prefect.stop()
            time.sleep(3.0)
            prefect.start()
            first = child.wait(timeout=300)
        finally:
            child.kill()
        if first != 0:  # failed cleanly: the same command finishes the run
            again = subprocess.run(child.args, capture_output=True, text=True, env=env, timeout=300)
            assert again.returncode == 0, again.stderr[-3000:]
    manifest = load_manifest(open_store(store_url), "prefect-restart")
    assert all(e.status is ShardStatus.COMPLETE for e in manifest.shards.values()), (tmp_path / "cli.log").read_text()[-3000:]
    assert len(ledger_keys(run_dir)) == 120 and len(server.requests) - 120 <= 4
    print(f"\nPrefect server restarted mid-flow: the first run exited {first}")
