"""Synthesis at scale under a real Prefect server: committed parts, the request ledger, budgets, batch mode.

Each test runs the real ``synthembed`` console script in a child process against the scripted
OpenAI-compatible server, and counts what the server was asked: nothing may be paid twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import polars as pl

from tasks.runs.manifest import ShardStatus, load_manifest
from tasks.runs.parts import scan_run
from tasks.storage.store import open_store
from tests.support.fake_openai import FakeOpenAI
from tests.support.file_hashes import committed_file_hashes
from tests.support.ledger_files import ledger_keys, ledger_records
from tests.support.synthembed_cli import SYNTHEMBED, assert_rows_are_valid, run_cli, synthesize_argv


def test_kill_9_mid_run_then_the_same_command_pays_only_for_what_was_never_answered(prefect_api, tmp_path):
    # Given a 2-shard run of 240 requests in parts of 30, against a server taking 0.1 s per request
    store_url, run_dir = f"file://{tmp_path}", tmp_path / "runs" / "killed"
    extra = ["--languages", "en,de", "--task-types", "sts", "--examples-per-shard", "120", "--part-size", "30",
             "--run-id", "killed", "--concurrency", "8"]
    with FakeOpenAI(latency_s=0.1) as server:
        child = subprocess.Popen([SYNTHEMBED, *synthesize_argv(server, store_url, *extra)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and child.poll() is None and len(server.requests) < 210:
            if len(server.requests) >= 170 and (run_dir / "manifest.json").exists() and committed_file_hashes(store_url, "killed"):
                break  # ~80 % asked, and the manifest has saved some commits
            time.sleep(0.01)
        # When the process is killed at ~80 %
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        sent_before = len(server.requests)
        answered_at_kill = ledger_keys(run_dir)
        committed_at_kill = committed_file_hashes(store_url, "killed")
        assert 150 <= sent_before < 240 and committed_at_kill, "the kill should land mid-run, after some commits"

        # Then the same command again completes ...
        rerun = run_cli(synthesize_argv(server, store_url, *extra))
        assert rerun.returncode == 0, rerun.stderr[-2000:]
    rerun_requests = len(server.requests) - sent_before
    final = ledger_keys(run_dir)
    print(f"\nkill -9 after {sent_before} of 240 requests sent, {len(answered_at_kill)} answered and recorded, "
          f"{len(committed_at_kill)} part(s) committed; the rerun sent {rerun_requests}; paid twice: "
          f"{sent_before + rerun_requests - 240}")
    # ... asking only for what had no recorded answer, and the kill lost at most what was in flight.
    assert rerun_requests == len(final - answered_at_kill) == 240 - len(answered_at_kill)
    assert sent_before - len(answered_at_kill) <= 8, "answers lost to the kill: more than one concurrency's worth"
    assert len(final) == 240
    # Committed parts are byte-identical; every file under data/ is a committed part; no duplicates.
    after = committed_file_hashes(store_url, "killed")
    assert {p: after[p] for p in committed_at_kill} == committed_at_kill
    assert sorted(str(p) for p in (run_dir / "data").rglob("*.parquet")) == sorted(after)
    frame = scan_run(open_store(store_url), "killed", filtered=False).collect()
    globbed = pl.read_parquet(str(run_dir / "data" / "**" / "*.parquet"), hive_partitioning=False)
    assert frame.height == globbed.height == load_manifest(open_store(store_url), "killed").total_rows() > 200
    assert frame["example_id"].n_unique() == frame.height


def test_a_budget_just_below_the_plan_stops_the_run_and_a_raised_budget_finishes_it(prefect_api, tmp_path):
    store_url, run_dir = f"file://{tmp_path}", tmp_path / "runs" / "budget"
    extra = ["--languages", "en,de,fr", "--task-types", "sts", "--examples-per-shard", "4", "--part-size", "2",
             "--run-id", "budget", "--max-tokens", "200", "--concurrency", "2", "--price-input", "1", "--price-output", "2"]
    with FakeOpenAI() as server:
        full = run_cli(synthesize_argv(server, f"file://{tmp_path}/full", *extra))
    assert full.returncode == 0, full.stderr[-2000:]
    plan_cost = sum(e.usage["prompt_tokens"] + e.usage["completion_tokens"]
                    for e in load_manifest(open_store(f"file://{tmp_path}/full"), "budget").shards.values())
    budget = int(plan_cost * 0.7)

    with FakeOpenAI() as server:
        first = run_cli(synthesize_argv(server, store_url, *extra, "--budget-tokens", str(budget)))
    assert first.returncode == 1, first.stderr[-2000:]
    assert "stopped early: token budget" in first.stderr
    manifest = load_manifest(open_store(store_url), "budget")
    spent = sum(r["prompt_tokens"] + r["completion_tokens"] for r in ledger_records(run_dir))
    largest = max(r["prompt_tokens"] + r["completion_tokens"] for r in ledger_records(run_dir))
    assert spent <= budget + 2 * largest  # never past the budget by more than what is in flight
    assert manifest.stopped_reason.startswith("token budget")
    assert any(e.status is ShardStatus.PENDING for e in manifest.shards.values())
    assert not manifest.failed()  # stopped, not failed
    paid_first = len(server.requests)

    with FakeOpenAI() as server:
        retry = run_cli(["retry", "--run-id", "budget", "--store", store_url, "--llm-base-url", server.base_url,
                          "--llm-model", server.model, "--budget-tokens", str(int(plan_cost * 3))])
    assert retry.returncode == 0, retry.stderr[-2000:]
    after = load_manifest(open_store(store_url), "budget")
    assert all(e.status is ShardStatus.COMPLETE for e in after.shards.values()) and after.stopped_reason is None
    assert paid_first + len(server.requests) == len(ledger_keys(run_dir)) == 12  # nothing paid twice


def test_a_request_failing_for_good_fails_only_its_part_and_the_retry_pays_only_for_it(prefect_api, tmp_path):
    store_url, run_dir = f"file://{tmp_path}", tmp_path / "runs" / "onebad"
    doomed = {}

    def policy(n: int, prompt: str) -> str:
        if not doomed and n == 4:
            doomed["prompt"] = prompt
        return "500" if prompt == doomed.get("prompt") else "ok"

    extra = ["--languages", "en,de", "--task-types", "sts", "--examples-per-shard", "6", "--part-size", "3",
             "--run-id", "onebad", "--max-retries", "0", "--shard-retries", "1", "--concurrency", "2"]
    with FakeOpenAI(policy=policy) as server:
        first = run_cli(synthesize_argv(server, store_url, *extra))
    assert first.returncode == 1, first.stderr[-2000:]
    manifest = load_manifest(open_store(store_url), "onebad")
    parts = {f"{e.key}/{p.index}": p for e in manifest.shards.values() for p in e.parts}
    failed = [k for k, p in parts.items() if p.status is ShardStatus.FAILED]
    assert len(failed) == 1 and sum(p.status is ShardStatus.COMPLETE for p in parts.values()) == 3
    assert parts[failed[0]].attempts == 2  # the Prefect retry of its shard tried it again ...
    assert server.count("500") == 2 and len(server.requests) == 12 + 1  # ... paying only for that request
    assert "HTTP 500" in parts[failed[0]].error

    with FakeOpenAI() as healed:
        retry = run_cli(["retry", "--run-id", "onebad", "--store", store_url, "--llm-base-url", healed.base_url,
                          "--llm-model", healed.model])
    assert retry.returncode == 0, retry.stderr[-2000:]
    assert len(healed.requests) == 1  # the one request never answered
    assert len(ledger_keys(run_dir)) == 12
    frame = scan_run(open_store(store_url), "onebad", filtered=False).collect()
    after = load_manifest(open_store(store_url), "onebad")
    duplicates = sum(e.rejects.get("duplicate", 0) for e in after.shards.values())  # the fake answers by request number
    assert frame.height + duplicates == 12 and frame["example_id"].n_unique() == frame.height == after.total_rows()
    assert_rows_are_valid(frame)


def test_batch_mode_resubmits_expired_and_failed_items_alone_and_resumes_by_stored_batch_ids(prefect_api, tmp_path):
    store_url, run_dir = f"file://{tmp_path}", tmp_path / "runs" / "batched"
    faults = {3: "expire", 5: "500"}
    extra = ["--languages", "en", "--task-types", "retrieval,sts", "--examples-per-shard", "5", "--run-id", "batched",
             "--llm-mode", "batch", "--batch-poll", "0.2"]

    # A first process submits the first batch, then is killed while the batch runs (3 s).
    with FakeOpenAI(policy=lambda n, p: faults.get(n, "ok"), batch_delay_s=3.0) as server:
        child = subprocess.Popen([SYNTHEMBED, *synthesize_argv(server, store_url, *extra)], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.PIPE, start_new_session=True)
        deadline = time.monotonic() + 60
        while not list((run_dir / "batches").glob("*.json")) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        [first_batch] = list(server.batches)
        # The same command again waits for that batch instead of submitting its requests again.
        rerun = run_cli(synthesize_argv(server, store_url, *extra))
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        items = [custom_id for custom_id, _ in server.batch_requests]
    assert len(server.batches) >= 2  # the brainstorm (+ STS) batch, then the generations
    assert server.batches[first_batch]["status"] == "expired"  # its one expired item ...
    assert len(items) == len(set(items)) + 2  # ... and the failed one were the only items sent twice
    manifest = load_manifest(open_store(store_url), "batched")
    assert all(e.status is ShardStatus.COMPLETE for e in manifest.shards.values())
    assert len(ledger_keys(run_dir)) == len(set(items))
    assert_rows_are_valid(scan_run(open_store(store_url), "batched", filtered=False).collect())


def test_dry_run_prints_the_plan_without_any_server(tmp_path):
    result = run_cli(["synthesize", "--languages", "all", "--total-examples", "500000", "--dry-run",
                       "--llm-base-url", "http://127.0.0.1:9/v1", "--llm-model", "gpt-4o-mini",
                       "--price-input", "0.15", "--price-output", "0.6", "--store", f"file://{tmp_path}"])
    assert result.returncode == 0, result.stderr
    assert "shards" in result.stdout and "558" in result.stdout and "est_cost_usd" in result.stdout
    assert not (tmp_path / "runs").exists()
