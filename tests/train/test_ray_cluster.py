"""Training on a Ray cluster that was started first, as `ray job submit`, a KubeRay RayJob and a
Prefect job on a Ray cluster run it: the address comes from ``RAY_ADDRESS`` alone.

Given a real Ray head on 127.0.0.1 (``ray start --head``) and ``RAY_ADDRESS`` pointing at it,
when `synthembed train` runs without ``--ray-address``, then it joins that cluster (it asks it for
no CPUs: Ray refuses resources when joining) and trains, and the cluster is still up afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from infra.services.process import free_port
from tasks.train.launch import quiet_local_ray
from tests.support.runs import training_run
from tests.support.train_log import logged_steps

BIN = Path(sys.executable).parent


@pytest.fixture
def ray_head(tmp_path_factory):
    """A real Ray head on 127.0.0.1 with 2 CPUs; yields its address (``host:port``) and the environment
    its clients need."""
    quiet_local_ray()  # the bootstrap config that stops Ray probing cloud metadata, for the head too
    port = free_port()
    temp = Path(f"/tmp/ray-head-{port}")  # Ray's socket paths must stay short
    # Ray 2.60's `ray start` turns token authentication on (a token in ~/.ray); this loopback-only
    # test cluster runs without, as the clients it starts do.
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "RAY_AUTH_MODE": "disabled"}
    head = subprocess.Popen([BIN / "ray", "start", "--head", "--block", "--node-ip-address", "127.0.0.1",
                             "--port", str(port), "--num-cpus", "2", "--include-dashboard", "false",
                             "--disable-usage-stats", "--temp-dir", str(temp)],
                            env=env, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    address = f"127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while subprocess.run([BIN / "ray", "status", "--address", address], env=env,
                         capture_output=True).returncode != 0:
        assert head.poll() is None and time.monotonic() < deadline, "the Ray head did not start"
        time.sleep(1)
    try:
        yield address, env
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)


def test_train_joins_the_cluster_in_ray_address(prefect_api, ray_head, tmp_path):
    data = training_run(tmp_path / "store", n=8)
    command = [BIN / "synthembed", "train", "--data", data, "--base-model", "smollm2-135m",
               "--out", f"file://{tmp_path}/model", "--num-workers", "1", "--batch-size", "4",
               "--mini-batch-size", "2", "--steps", "2", "--max-length", "64", "--warmup-steps", "1"]
    address, ray_env = ray_head
    env = {**ray_env, "RAY_ADDRESS": address}
    env.pop("SYNTHEMBED_RAY_ADDRESS", None)
    trained = subprocess.run(command, capture_output=True, text=True, timeout=900, env=env)
    log = trained.stdout + trained.stderr
    assert trained.returncode == 0, log[-4000:]
    assert "num_cpus and num_gpus must not be provided" not in log
    assert [step for step, _ in logged_steps(log)] == [1, 2]
    assert "Connecting to existing Ray cluster" in log or address in log, log[-3000:]
    # It joined: the head still runs (a local Ray started by the command would have been shut down).
    assert subprocess.run([BIN / "ray", "status", "--address", address], env=ray_env,
                          capture_output=True).returncode == 0
