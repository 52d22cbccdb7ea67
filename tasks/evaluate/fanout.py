"""Fan the (model × task) units out over Ray workers: each worker keeps one model loaded and takes
units largest first; results are filed by the worker as each unit finishes; a lost worker is
restarted and its unit runs again.

Ray is reached as training reaches it (:func:`tasks.train.launch.connect_ray`): a local Ray on
127.0.0.1 without dashboard, usage stats or cloud-metadata probes, or the cluster at
``--ray-address``/``RAY_ADDRESS``. Scheduling is done here, on the driver, one unit per idle
worker: the largest pending unit of the model the worker already holds, else the largest of
any model (the worker then loads that one). Largest first so that the long units start early
and the short ones fill the gaps at the end. Units already filed never reach a worker.

    outcomes = run_units(specs, EvalConfig(models=["minilm", "random"], num_workers=2), on_unit=print)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict

from tasks.common.settings import Settings
from tasks.evaluate.config import EvalConfig
from tasks.evaluate.estimate import task_size
from tasks.evaluate.models import ModelSpec
from tasks.evaluate.runner import ModelOutcome, encoder_for, identity_of, score_model, split_filed
from tasks.evaluate.suite import select_tasks
from tasks.storage.store import open_store

WORKER_NAME = "synthembed-eval-worker-{}"  # named, so that a test (or an operator) can find and kill one
RESTARTS = 3  # a worker lost this many times is given up; its units then fail and the retry command redoes them


class UnitWorker:
    """A Ray actor: one model loaded at a time, one unit per call, the result filed before it returns."""

    def __init__(self, config: dict, threads: int) -> None:
        import torch

        torch.set_num_threads(threads)  # Ray's share of this node's cores, not all of them per worker
        self.config = EvalConfig(**config)
        self.spec: ModelSpec | None = None
        self.encoder = None

    def run(self, spec: ModelSpec, task_name: str) -> dict:
        cache = Settings().cache
        (task,) = select_tasks([task_name], self.config.bible_samples, self.config.bbc_per_label, self.config.seed,
                               self.config.benchmark)
        if spec != self.spec:
            self.encoder, self.spec = None, None  # free the old model before the new one loads
            try:
                self.encoder, self.spec = encoder_for(spec, self.config, cache), spec
            except Exception as exc:
                return {"label": spec.label, "scores": {}, "results": [], "skipped": [], "seconds": 0.0,
                        "failed": {task_name: f"loading {spec.label}: {exc}".splitlines()[0]}}
        return score_model(spec, [task], self.config, cache, encoder=self.encoder).to_dict()


def run_units(specs: list[ModelSpec], config: EvalConfig,
              on_unit: Callable[[str, str, str, float | None], None] | None = None) -> list[dict]:
    """Every unit of ``specs`` × the config's tasks on ``config.num_workers`` Ray workers; one outcome
    per model (as :func:`tasks.evaluate.runner.score_model` returns), in the order of ``specs``.
    ``on_unit(model, task, state, score)`` on the driver as each unit is skipped, done or failed."""
    import ray

    from tasks.train.launch import connect_ray, cpus_per_worker

    tasks = select_tasks(config.tasks, config.bible_samples, config.bbc_per_label, config.seed, config.benchmark)
    store, cache = open_store(config.store), Settings().cache
    outcomes = {spec.label: ModelOutcome(spec.label) for spec in specs}
    pending = []  # (characters, spec, task name)
    for spec in specs:
        filed, todo = split_filed(store, identity_of(spec, cache), tasks)
        for name, score in filed.items():
            outcomes[spec.label].scores[name] = score
            outcomes[spec.label].skipped.append(name)
            _notify(on_unit, spec.label, name, "skipped", score)
        pending += [(task_size(t, config.bible_samples, config.bbc_per_label).characters, spec, t.metadata.name)
                    for t in todo]
    if not pending:
        return [outcomes[s.label].to_dict() for s in specs]

    started_local = connect_ray(config.ray_address, num_cpus=max(os.cpu_count() or 1, config.num_workers))
    workers = []
    try:
        workers = start_workers(config, cpus_per_worker(ray.cluster_resources().get("CPU", 1), config.num_workers))
        schedule(workers, sorted(pending, key=lambda unit: -unit[0]), outcomes, on_unit)
    finally:
        for worker in workers:  # they hold the models' memory, and their names
            ray.kill(worker)
        if started_local:
            ray.shutdown()
    return [outcomes[s.label].to_dict() for s in specs]


def start_workers(config: EvalConfig, cpus: int) -> list:
    """``config.num_workers`` named actors; a GPU each with ``use_gpu`` (a ValueError if the cluster has none)."""
    import ray

    gpus = ray.cluster_resources().get("GPU", 0)
    if config.use_gpu and gpus < 1:
        raise ValueError("--use-gpu: the Ray cluster has no GPU (ray.cluster_resources() lists none); "
                         "drop --use-gpu or join a cluster with GPUs (--ray-address)")
    actor, settings = ray.remote(UnitWorker), asdict(config)
    return [actor.options(name=WORKER_NAME.format(i), num_cpus=cpus, num_gpus=1 if config.use_gpu else 0,
                          max_restarts=RESTARTS, max_task_retries=RESTARTS).remote(settings, cpus)
            for i in range(config.num_workers)]


def schedule(workers: list, pending: list[tuple[int, ModelSpec, str]], outcomes: dict[str, ModelOutcome],
             on_unit) -> None:
    """Give each idle worker the largest pending unit of the model it holds (else the largest of any),
    until every unit has come back; merge each outcome as it arrives."""
    import ray

    holds: dict[int, ModelSpec | None] = {i: None for i in range(len(workers))}
    idle, running = list(range(len(workers))), {}
    while pending or running:
        if not running and not idle:  # every worker lost for good: the rest fail, the retry command redoes them
            for _, spec, task_name in pending:
                outcomes[spec.label].failed[task_name] = "no Ray worker left"
                _notify(on_unit, spec.label, task_name, "failed", None)
            return
        while idle and pending:
            worker = idle.pop(0)
            pick = next((k for k, unit in enumerate(pending) if unit[1] == holds[worker]), 0)
            _, spec, task_name = pending.pop(pick)
            holds[worker] = spec
            running[workers[worker].run.remote(spec, task_name)] = (worker, spec, task_name)
        (ref,), _ = ray.wait(list(running), num_returns=1)
        worker, spec, task_name = running.pop(ref)
        try:
            outcome = ray.get(ref)
            idle.append(worker)
        except Exception as exc:  # lost more than RESTARTS times: this unit fails, the others go on elsewhere
            outcome = {"scores": {}, "results": [], "failed": {task_name: f"worker lost: {type(exc).__name__}"}}
        _merge(outcomes[spec.label], outcome)
        state = "failed" if task_name in outcome["failed"] else "done"
        _notify(on_unit, spec.label, task_name, state, outcome["scores"].get(task_name))


def _merge(into: ModelOutcome, outcome: dict) -> None:
    into.scores.update(outcome["scores"])
    into.results += outcome["results"]
    into.failed.update(outcome["failed"])
    into.seconds += outcome.get("seconds", 0.0)


def _notify(on_unit, model: str, task: str, state: str, score: float | None) -> None:
    if on_unit is not None:
        on_unit(model, task, state, score)
