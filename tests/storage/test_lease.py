"""One writer per run: the lease between two real processes, on file:// and on SeaweedFS."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tasks.storage.lease import LeaseHeld, RunLease, break_lease
from tasks.storage.store import check_store, open_store

ROOT = Path(__file__).resolve().parents[2]
HOLDER = """
import sys, time
sys.path.insert(0, {root!r})
from tasks.storage.lease import RunLease
from tasks.storage.store import open_store
RunLease(open_store({url!r}), "r1").acquire()
print("held", flush=True)
time.sleep(120)
"""


def _holder(url: str, env: dict | None = None) -> subprocess.Popen:
    child = subprocess.Popen([sys.executable, "-c", HOLDER.format(root=str(ROOT), url=url)], stdout=subprocess.PIPE,
                             text=True, env={**os.environ, **(env or {})})
    assert child.stdout.readline().strip() == "held"
    return child


@pytest.fixture(params=["file", "s3"])
def store_url(request, tmp_path):
    if request.param == "file":
        return f"file://{tmp_path}"
    request.getfixturevalue("s3_env")  # credentials and endpoint in the environment
    url = f"s3://lease-{secrets.token_hex(3)}/root"
    check_store(open_store(url))
    return url


def test_a_second_process_is_refused_with_the_holder_named_until_the_holder_dies(store_url):
    child = _holder(store_url)
    try:
        with pytest.raises(LeaseHeld, match=rf"run 'r1' is being written by [^ ]+:{child.pid} .*synthembed unlock"):
            RunLease(open_store(store_url), "r1").acquire()
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    # its holder is gone (same host, no such pid): the lease is taken over at once
    lease = RunLease(open_store(store_url), "r1").acquire()
    assert lease.holder()["token"] == lease.token
    lease.release()
    assert lease.holder() is None


def _plant(store_url: str, holder: str, renewed_ago_s: float) -> None:
    store = open_store(store_url)
    record = {"holder": holder, "token": "t", "command": "synthembed synthesize", "acquired_at": time.time() - 600,
              "renewed_at": time.time() - renewed_ago_s, "ttl_s": 60}
    store.write_bytes(store.path("runs", "r1", "lease.json"), json.dumps(record).encode())


def test_a_lease_from_another_host_holds_until_it_expires_or_is_broken(store_url):
    _plant(store_url, "build-7:4242", renewed_ago_s=5)
    with pytest.raises(LeaseHeld, match="build-7:4242"):
        RunLease(open_store(store_url), "r1").acquire()
    assert break_lease(open_store(store_url), "r1")["holder"] == "build-7:4242"
    RunLease(open_store(store_url), "r1").acquire().release()

    _plant(store_url, "build-7:4242", renewed_ago_s=120)  # not renewed for 2 × its ttl: expired
    lease = RunLease(open_store(store_url), "r1").acquire()
    assert lease.holder()["holder"].endswith(f":{os.getpid()}")


def test_renewal_notices_a_lease_that_was_broken_and_taken(tmp_path):
    store = open_store(f"file://{tmp_path}")
    mine = RunLease(store, "r1").acquire()
    mine.renew()
    break_lease(store, "r1")
    RunLease(store, "r1").acquire()  # another writer took it
    with pytest.raises(LeaseHeld, match="broken or taken over"):
        mine.renew()
