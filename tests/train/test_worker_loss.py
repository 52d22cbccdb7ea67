"""Soak: a Ray Train worker killed mid-run is replaced and training resumes from the last
checkpoint (FailureConfig). Run with `make soak`."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.train.test_ray_train import _steps

pytestmark = pytest.mark.soak


def test_a_killed_worker_is_replaced_and_training_resumes_from_the_checkpoint(real_run, tmp_path):
    store_url, run_id, _ = real_run
    out = tmp_path / "out"
    command = [str(Path(sys.executable).parent / "synthembed"), "train", "--data", f"{store_url}/runs/{run_id}",
               "--base-model", "smollm2-135m", "--out", f"file://{out}", "--num-workers", "2", "--batch-size", "8",
               "--mini-batch-size", "4", "--steps", "9", "--max-length", "64", "--checkpoint-every", "3"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 900
    while not list((out / "ray" / "train").glob("checkpoint_2*")):  # wait for the first checkpoint
        assert time.monotonic() < deadline and process.poll() is None, "no checkpoint appeared"
        time.sleep(1)
    workers = [p for p in psutil.process_iter(["cmdline"]) if "ray::RayTrainWorker" in " ".join(p.info["cmdline"] or [])]
    assert workers, "no Ray Train worker process found"
    workers[0].send_signal(signal.SIGKILL)
    output, _ = process.communicate(timeout=900)
    assert process.returncode == 0, output[-4000:]
    steps = [s for s, _ in _steps(output)]
    assert steps[-1] == 9 and sorted(set(steps)) == list(range(1, 10))  # every step done, none skipped
