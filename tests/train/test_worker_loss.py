"""A Ray Train worker lost mid-run is replaced and training resumes from the last checkpoint
(FailureConfig): in `make test` a tiny model whose worker process kills itself once (~1 minute);
in `make soak` SmolLM2 through the CLI, two workers, one killed from outside."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tasks.train.config import TrainConfig
from tests.support.runs import training_run
from tests.support.train_log import logged_steps
from tests.train.tiny import save_tiny_base


def _killed_once(config: dict) -> None:
    """train_func whose worker process dies (SIGKILL, as a preempted node's would) at the first report
    after its first checkpoint, once; Ray then starts a new worker, which resumes from that checkpoint."""
    import ray.train

    from tasks.train import loop

    report, marker, checkpointed = ray.train.report, Path(config["_killed_marker"]), []
    snapshot = Path(config["out"].removeprefix("file://"), "ray", "train", "checkpoint_manager_snapshot.json")

    def registered(step: int) -> bool:
        """Ray's controller has recorded the checkpoint of ``step`` (it polls the workers' reports)."""
        try:
            results = json.loads(snapshot.read_text())["checkpoint_results"]
        except (OSError, ValueError, KeyError):
            return False
        return any(r.get("metrics", {}).get("step") == step for r in results)

    def report_or_die(metrics, checkpoint=None, **kwargs):
        if checkpointed and not marker.exists():
            deadline = time.monotonic() + 60
            while not registered(checkpointed[-1]) and time.monotonic() < deadline:
                time.sleep(0.2)
            marker.write_text(str(metrics["step"]))
            os.kill(os.getpid(), signal.SIGKILL)
        report(metrics, checkpoint=checkpoint, **kwargs)
        if checkpoint is not None:
            checkpointed.append(metrics["step"])

    ray.train.report = report_or_die
    loop.train_func(config)


@pytest.mark.timeout(300)
def test_a_lost_worker_process_is_replaced_and_resumes_from_the_last_checkpoint(tmp_path, monkeypatch):
    from tasks.train import launch as launcher
    from tasks.train import loop

    base = save_tiny_base(tmp_path / "base")
    config = TrainConfig(data=[training_run(tmp_path)], base_model=str(base), out=f"file://{tmp_path}/out",
                         batch_size=4, mini_batch_size=2, steps=3, warmup_steps=1, learning_rate=1e-2, max_length=32,
                         lora_rank=4, lora_alpha=8, checkpoint_every=1, max_failures=1)
    marker, steps = tmp_path / "killed", []
    launcher.connect_ray(num_cpus=2)  # kept for the session, as other Ray tests do
    monkeypatch.setattr(loop, "train_func", lambda c: _killed_once({**c, "_killed_marker": str(marker)}))
    started = time.monotonic()
    result = launcher.launch(config, str(base), on_metrics=lambda m: steps.append(m["step"]))
    # The process died before reporting step 2; its replacement resumed from the step-1 checkpoint.
    assert marker.read_text() == "2" and steps == [1, 2, 3]
    with result.checkpoint.as_directory() as folder:
        assert torch_step(folder) == 3
    assert (tmp_path / "out" / "model" / "modules.json").is_file()  # and the run still exported its model
    assert time.monotonic() - started < 240


def torch_step(folder: str) -> int:
    import torch

    from tasks.train.checkpoint import STATE_FILE

    return int(torch.load(Path(folder) / STATE_FILE, weights_only=True)["step"])


@pytest.mark.soak
def test_a_killed_worker_is_replaced_and_training_resumes_from_the_checkpoint(real_run, tmp_path):
    store_url, run_id, _ = real_run
    out = tmp_path / "out"
    command = [str(Path(sys.executable).parent / "synthembed"), "train", "--data", f"{store_url}/runs/{run_id}",
               "--base-model", "smollm2-135m", "--out", f"file://{out}", "--num-workers", "2", "--batch-size", "4",
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
    steps = [s for s, _ in logged_steps(output)]
    assert steps[-1] == 9 and sorted(set(steps)) == list(range(1, 10))  # every step done, none skipped
