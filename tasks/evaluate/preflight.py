"""Everything an evaluation can check before a model loads: one clear error, nothing spent.

Values and sizes, the device (``cuda:1`` on a machine with one GPU), task names (standard MTEB
tasks only when the hub is on), that every
exported model folder exists and is one, that the base model resolves, that the store is
writable. Also fills in the base model for ``baselines`` from the first exported model's
training configuration (``synthembed_train_config.json``, written by the export).
"""

from __future__ import annotations

from tasks.evaluate.config import EvalConfig
from tasks.evaluate.devices import DeviceError, cuda_count, resolve_device
from tasks.evaluate.estimate import plan, plan_rows, throughput_notes
from tasks.evaluate.models import ModelSpec, check_model, parse_model
from tasks.evaluate.suite import check_task_names, select_tasks
from tasks.storage.store import check_store, open_store
from tasks.train.launch import cluster_address

DEFAULT_BASE = "embedded-qwen"
TRAIN_CONFIG_FILE = "synthembed_train_config.json"


def trained_from(url: str) -> str | None:
    """The base model an exported folder was trained from, if it says."""
    store = open_store(url)
    config = store.read_json(store.path(TRAIN_CONFIG_FILE))
    return config.get("base_model") if config else None


def with_base_model(config: EvalConfig, given: list[ModelSpec]) -> list[ModelSpec]:
    """All the models to score, the base model for ``baselines`` filled in from the first exported one's training."""
    if config.baselines and not config.base_model:
        found = [base for spec in given if spec.kind == "exported" and (base := trained_from(spec.location))]
        config.base_model = found[0] if found else DEFAULT_BASE
    return config.specs()


def plan_evaluation(config: EvalConfig) -> tuple[list[dict], list[str]]:
    """The dry run: every (model × task) unit with its task's size and estimated time, and where each
    throughput figure comes from. Reads metadata only (no model, no data), so it works offline and
    for a GPU this machine lacks (``--device cuda`` estimates a GPU run)."""
    config.validate()
    specs = with_base_model(config, [parse_model(m) for m in config.models])
    tasks = select_tasks(config.tasks, config.bible_samples, config.bbc_per_label, config.seed, config.benchmark,
                         dry_run=True)
    device_kind = "cuda" if config.device.startswith("cuda") else resolve_device(config.device).partition(":")[0]
    units = plan(specs, tasks, device_kind, config.bible_samples, config.bbc_per_label)
    return plan_rows(units), throughput_notes(units, device_kind)


def check_evaluation(config: EvalConfig) -> list[ModelSpec]:
    """Validate ``config`` (filling in ``base_model``); return the models to score, in table order."""
    config.validate()
    resolve_device(config.device)  # a GPU asked for and not here: said now, not after the models are fetched
    if config.use_gpu and not cluster_address(config.ray_address) and not cuda_count():
        raise DeviceError("--use-gpu: a local Ray cluster here would have no GPU (none visible); drop --use-gpu, "
                          "or join a cluster with GPUs (--ray-address or RAY_ADDRESS)")
    check_task_names(config.tasks, config.benchmark)
    check_store(open_store(config.store))
    exported = [parse_model(m) for m in config.models]
    for spec in exported:
        check_model(spec)
    specs = with_base_model(config, exported)
    for spec in specs[len(exported):]:
        check_model(spec)
    return specs
