"""Launch ``train_func`` as a Ray Train job: connect to Ray, build the TorchTrainer, stream metrics.

Locally, Ray starts on 127.0.0.1 with no dashboard, no usage stats and no cloud-metadata
probes; with an address (``ray://head:10001`` or ``auto``) it joins that cluster instead.
Checkpoints go to ``{out}/ray/train`` on the same store as the model (file:// or s3://); a
worker lost mid-run is replaced and resumes from the last checkpoint (``max_failures``).

    result = launch(config, base_path="/cache/checkpoints/smollm2", on_metrics=print)
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path

import pyarrow.fs

from tasks.storage.store import open_store
from tasks.train.config import TrainConfig

RUN_NAME = "train"
# The process group's timeout (NCCL/gloo). The first collective, the broadcast of rank 0's
# weights, comes after every worker has loaded the base model; a worker that downloads it from
# the hub (Mistral-7B: 14.5 GB into each pod's cache) arrives late, and Ray's default of 30
# minutes would fail the run on a slow link. A worker that dies is noticed by Ray itself, not
# by this timeout; only a worker that hangs inside a collective is waited for this long.
COLLECTIVE_TIMEOUT_S = 3 * 3600
BOOTSTRAP_NOTE = "# Written by synthembed: marks this machine as a local Ray node, so Ray does not probe cloud metadata.\n"


def quiet_local_ray() -> None:
    """Keep a local Ray on loopback: 127.0.0.1 only, no usage stats, no cloud-metadata probes.

    Ray looks for ``~/ray_bootstrap_config.yaml`` to learn its provider; without one it probes
    AWS/GCP metadata endpoints on every ``ray.init``. A ``local`` provider stops that.
    """
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"
    # Single-node mode: Ray binds and talks on 127.0.0.1 instead of the machine's own address.
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    constants = sys.modules.get("ray._private.ray_constants")
    if constants is not None:  # ray was imported before this ran: the constant is already read
        constants.ENABLE_RAY_CLUSTER = False
    bootstrap = Path.home() / "ray_bootstrap_config.yaml"
    if not bootstrap.exists():
        bootstrap.write_text(BOOTSTRAP_NOTE + "provider:\n  type: local\n")


def cluster_address(address: str | None = None) -> str | None:
    """The Ray cluster to join: ``address`` if given, else ``RAY_ADDRESS`` (what ``ray job submit``,
    a KubeRay RayJob and Ray's own tools set), else None: start a local Ray.

    >>> os.environ.pop("RAY_ADDRESS", None); cluster_address() is None
    True
    >>> os.environ["RAY_ADDRESS"] = "127.0.0.1:6379"; cluster_address(), cluster_address("ray://head:10001")
    ('127.0.0.1:6379', 'ray://head:10001')
    >>> del os.environ["RAY_ADDRESS"]
    """
    return address or os.environ.get("RAY_ADDRESS") or None


def connect_ray(address: str | None = None, num_cpus: int | None = None) -> bool:
    """Join the cluster at ``address`` (or ``RAY_ADDRESS``), or start a local Ray on 127.0.0.1 with
    ``num_cpus``; True when this call started a local one.

    Resources are never passed when joining: Ray refuses ``num_cpus`` for an existing cluster.
    """
    import ray

    if ray.is_initialized():
        return False
    if address := cluster_address(address):
        ray.init(address=address, log_to_driver=True)
        return False
    quiet_local_ray()
    # Worker output stays in Ray's session logs (/tmp/ray/session_latest/logs): metrics reach
    # the driver through a queue, and a failing worker's traceback comes back in the exception.
    # (Without Ray's dashboard package the State API is absent and Ray Train's placement-group
    # cleaner would otherwise print a warning every second.)
    ray.init(num_cpus=num_cpus, include_dashboard=False, _node_ip_address="127.0.0.1",
             log_to_driver=False, configure_logging=False)
    return True


def storage_for(out_url: str) -> tuple[str, pyarrow.fs.FileSystem | None]:
    """Ray Train's storage path and filesystem for the store behind ``out_url``."""
    store = open_store(out_url)
    path = store.path("ray")
    if store.protocol == "file":
        return path, None
    # Reuse our fsspec filesystem (endpoint, credentials) rather than configuring pyarrow twice.
    return path, pyarrow.fs.PyFileSystem(pyarrow.fs.FSSpecHandler(store.fs))


def is_checkpoint_dir(path: str) -> bool:
    """Ray Train names checkpoint folders ``checkpoint_<timestamp>`` (beside a ``checkpoint_manager_snapshot.json``)."""
    name = path.rstrip("/").rsplit("/", 1)[-1]
    return name.startswith("checkpoint_") and not name.endswith(".json")


def checkpoint_dirs(out_url: str) -> list[str]:
    """The checkpoint folders under ``{out}/ray/train``, newest first.

    Ray names them ``checkpoint_<YYYY-mm-dd_HH-MM-SS.ffffff>``, so the name orders them in time.
    """
    store = open_store(out_url)
    root = store.path("ray", RUN_NAME)
    if not store.fs.exists(root):
        return []
    return sorted((p for p in store.fs.ls(root, detail=False) if is_checkpoint_dir(p)), reverse=True)


def has_checkpoints(out_url: str) -> bool:
    return bool(checkpoint_dirs(out_url))


def cpus_per_worker(cluster_cpus: float, num_workers: int) -> int:
    """The CPUs each worker gets by default: the cluster's, shared evenly (at least one).

    A Ray Train worker runs ``torch.set_num_threads`` with this many threads; Ray's own default
    of one CPU per worker leaves the other cores of a machine idle.

    >>> cpus_per_worker(2, 1), cpus_per_worker(16, 3), cpus_per_worker(1, 2)
    (2, 5, 1)
    """
    return max(1, int(cluster_cpus // num_workers))


def launch(config: TrainConfig, base_path: str, on_metrics: Callable[[dict], None] | None = None,
           address: str | None = None):
    """Run training to the end (or failure); return Ray Train's ``Result``.

    ``on_metrics`` is called on the driver with each step's metrics as rank 0 reports them.
    """
    import ray
    from ray.train import CheckpointConfig, FailureConfig, RunConfig, ScalingConfig
    from ray.train.torch import TorchConfig, TorchTrainer
    from ray.util.queue import Queue

    from tasks.train.loop import train_func

    started_local = connect_ray(address, num_cpus=max(os.cpu_count() or 1, config.num_workers))
    metrics: Queue = Queue()
    storage_path, storage_filesystem = storage_for(config.out)
    cpus = config.cpus_per_worker or cpus_per_worker(ray.cluster_resources().get("CPU", 1), config.num_workers)
    resources = {"CPU": cpus} | ({"GPU": 1} if config.use_gpu else {})
    trainer = TorchTrainer(
        train_func,
        train_loop_config={**config.to_dict(), "cpus_per_worker": cpus, "_base_path": base_path,
                           "_metrics_queue": metrics},
        torch_config=TorchConfig(timeout_s=COLLECTIVE_TIMEOUT_S),
        scaling_config=ScalingConfig(num_workers=config.num_workers, use_gpu=config.use_gpu,
                                     resources_per_worker=resources),
        run_config=RunConfig(
            name=RUN_NAME, storage_path=storage_path, storage_filesystem=storage_filesystem,
            checkpoint_config=CheckpointConfig(num_to_keep=config.keep_checkpoints),
            failure_config=FailureConfig(max_failures=config.max_failures),
        ),
    )
    done = threading.Event()

    def drain() -> None:  # metrics from rank 0 → the caller (Prefect logs, progress bar)
        while not (done.is_set() and metrics.empty()):
            try:
                item = metrics.get(timeout=0.5)
            except Exception:  # Empty after the timeout, or the queue actor going away at shutdown
                continue
            if on_metrics:
                on_metrics(item)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        return trainer.fit()
    finally:
        done.set()
        reader.join(timeout=10)
        if started_local:  # its actors hold memory and CPU the next stage (evaluation) needs
            ray.shutdown()
