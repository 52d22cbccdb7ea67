"""Storage faults on a store we mount ourselves: a full disk and a read-only one.

One clear error, the manifest and committed data intact, and the run resumes (paying only for
what was never answered) once the store is usable again. Needs root for ``mount`` (CI runs as
root); skipped elsewhere. Permission denied cannot be produced for root by file modes, so a
read-only remount stands in for it (EROFS instead of EACCES; the same code path).
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tasks.runs.manifest import ShardStatus, load_manifest
from tasks.runs.parts import scan_run
from tasks.storage.store import open_store
from tests.support.fake_openai import FakeOpenAI
from tests.support.file_hashes import committed_file_hashes
from tests.support.ledger_files import ledger_keys
from tests.support.synthembed_cli import run_cli, synthesize_argv

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4M", "tmpfs", str(mount)], check=True)
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


EXTRA = ["--languages", "en,de", "--task-types", "sts", "--examples-per-shard", "60", "--part-size", "10",
         "--run-id", "faulty-disk", "--concurrency", "4"]


def test_a_full_disk_is_one_error_and_the_run_resumes_once_space_is_freed(prefect_api, small_disk):
    store_url, run_dir = f"file://{small_disk}/store", small_disk / "store" / "runs" / "faulty-disk"
    filler = small_disk / "filler"
    with FakeOpenAI(latency_s=0.1) as server:  # ~3 s of requests: the manifest is saved with commits meanwhile
        def fill_up(n: int, prompt: str) -> str:  # once the saved manifest commits a part, the disk fills up
            if not filler.exists() and committed_file_hashes(store_url, "faulty-disk"):
                with filler.open("wb") as f:
                    try:
                        f.write(b"\0" * (8 << 20))
                    except OSError:
                        pass
            return "ok"

        server.policy = fill_up
        full = run_cli(synthesize_argv(server, store_url, *EXTRA))
        assert full.returncode != 0, full.stdout[-2000:]
        assert "No space left on device" in full.stderr, full.stderr[-3000:]
        committed = committed_file_hashes(store_url, "faulty-disk")
        assert committed, "no part was committed before the disk filled up: nothing to compare"
        answered = ledger_keys(run_dir)
        filler.unlink()  # space is freed
        server.policy = lambda n, p: "ok"
        asked_before = len(server.requests)
        resumed = run_cli(synthesize_argv(server, store_url, *EXTRA))
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = committed_file_hashes(store_url, "faulty-disk")
    assert {p: after[p] for p in committed} == committed  # committed parts untouched
    assert len(server.requests) - asked_before == 120 - len(answered)  # nothing answered is paid again
    manifest = load_manifest(open_store(store_url), "faulty-disk")
    assert all(e.status is ShardStatus.COMPLETE for e in manifest.shards.values())
    assert scan_run(open_store(store_url), "faulty-disk", filtered=False).collect().height == manifest.total_rows()
    assert not [p for p in (small_disk / "store").rglob(".*") if p.is_file()]  # no temporary files left


def test_a_read_only_store_is_one_error_before_any_request(prefect_api, small_disk):
    store_url = f"file://{small_disk}/store"
    (small_disk / "store").mkdir()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with FakeOpenAI() as server:
        result = run_cli(synthesize_argv(server, store_url, *EXTRA))
    assert result.returncode == 2 and "cannot write to" in result.stderr and "Read-only file system" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert server.requests == []
