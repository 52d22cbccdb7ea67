"""Refusals through the installed console script: exactly one line on stderr, exit 2, nothing sent.

A resumed run id with other parameters and a run whose lease a live writer holds are refused
before Prefect starts (inside the flow they came after ~20 lines of Prefect traceback); the dry
run refuses what the run would. ``unlock`` does not break the lease of a writer alive on this
host unless ``--force``, and a run that does not exist is bad input.
"""

from __future__ import annotations

import json
import os
import socket

import pytest

from tasks.storage.lease import RunLease
from tasks.storage.store import open_store
from tests.support.fake_openai import FakeOpenAI
from tests.support.synthembed_cli import run_cli, synthesize_argv

RUN = ["--languages", "en", "--task-types", "sts", "--examples-per-shard", "2", "--run-id", "r1"]


def _one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, f"{len(lines)} lines:\n{result.stderr[-3000:]}"
    return lines[0]


@pytest.fixture(scope="module")
def made(prefect_api, tmp_path_factory):
    """A complete run r1 in a store, and the scripted server it was made with."""
    store_url = f"file://{tmp_path_factory.mktemp('refusals')}"
    with FakeOpenAI() as server:
        assert run_cli(synthesize_argv(server, store_url, *RUN)).returncode == 0
        yield store_url, server


@pytest.mark.parametrize("extra", [[], ["--dry-run"]], ids=["run", "dry-run"])
def test_other_parameters_on_an_existing_run_id_are_one_line(made, extra):
    store_url, server = made
    asked = len(server.requests)
    result = run_cli(synthesize_argv(server, store_url, *RUN, "--seed", "7", *extra))
    assert result.returncode == 2
    assert "run 'r1' already exists with other parameters (seed: was 0, now 7)" in _one_line(result)
    assert len(server.requests) == asked and not result.stdout  # nothing sent, no plan printed


def test_a_lease_held_by_a_live_writer_is_one_line_and_unlock_refuses_it_without_force(made):
    store_url, server = made
    store, asked = open_store(store_url), len(server.requests)
    lease = RunLease(store, "r1").acquire()  # this test's process: a writer alive on this host
    try:
        synthesize = run_cli(synthesize_argv(server, store_url, *RUN))
        unlock = run_cli(["unlock", "--run-id", "r1", "--store", store_url])
        assert RunLease(store, "r1").holder()["token"] == lease.token  # still ours
        forced = run_cli(["unlock", "--run-id", "r1", "--store", store_url, "--force"])
    finally:
        lease.release()
    holder = f"{socket.gethostname()}:{os.getpid()}"
    assert synthesize.returncode == 2 and f"run 'r1' is being written by {holder}" in _one_line(synthesize)
    assert unlock.returncode == 2
    line = _one_line(unlock)
    assert f"is being written by {holder}" in line and "alive on this host" in line and "--force" in line
    assert forced.returncode == 0 and f"broke the lease of {holder}" in forced.stdout
    assert RunLease(store, "r1").holder() is None
    assert len(server.requests) == asked


def test_unlock_breaks_the_lease_of_a_writer_that_is_gone_without_force(made, tmp_path):
    store_url, _ = made
    store = open_store(store_url)
    for holder in (f"{socket.gethostname()}:999999999", "another-host:1234"):  # dead here; elsewhere (can't tell)
        store.write_bytes(RunLease(store, "r1").path, json.dumps({"holder": holder, "token": "t", "ttl_s": 60,
                                                                 "renewed_at": 4e9, "acquired_at": 4e9}).encode())
        result = run_cli(["unlock", "--run-id", "r1", "--store", store_url])
        assert result.returncode == 0 and f"broke the lease of {holder}" in result.stdout, result.stderr
        assert RunLease(store, "r1").holder() is None


def test_unlock_of_a_run_that_does_not_exist_is_one_line(made):
    store_url, _ = made
    result = run_cli(["unlock", "--run-id", "nope", "--store", store_url])
    assert result.returncode == 2 and "no synthesis run 'nope'" in _one_line(result)
