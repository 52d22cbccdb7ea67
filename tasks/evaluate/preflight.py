"""Everything an evaluation can check before a model loads: one clear error, nothing spent.

Values and sizes, task names (standard MTEB tasks only when the hub is on), that every
exported model folder exists and is one, that the base model resolves, that the store is
writable. Also fills in the base model for ``baselines`` from the first exported model's
training configuration (``synthembed_train_config.json``, written by the export).
"""

from __future__ import annotations

from tasks.evaluate.config import EvalConfig
from tasks.evaluate.models import ModelSpec, check_model, parse_model
from tasks.evaluate.suite import check_task_names
from tasks.storage.store import check_store, open_store

DEFAULT_BASE = "embedded-qwen"
TRAIN_CONFIG_FILE = "synthembed_train_config.json"


def trained_from(url: str) -> str | None:
    """The base model an exported folder was trained from, if it says."""
    store = open_store(url)
    config = store.read_json(store.path(TRAIN_CONFIG_FILE))
    return config.get("base_model") if config else None


def check_evaluation(config: EvalConfig) -> list[ModelSpec]:
    """Validate ``config`` (filling in ``base_model``); return the models to score, in table order."""
    config.validate()
    check_task_names(config.tasks)
    check_store(open_store(config.store))
    exported = [parse_model(m) for m in config.models]
    for spec in exported:
        check_model(spec)
    if config.baselines and not config.base_model:
        found = [base for spec in exported if spec.kind == "exported" and (base := trained_from(spec.location))]
        config.base_model = found[0] if found else DEFAULT_BASE
    specs = config.specs()
    for spec in specs[len(exported):]:
        check_model(spec)
    return specs
