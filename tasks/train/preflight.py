"""Checks that turn bad training input into one clear error before Ray or a model starts.

A resume is also checked here: the new config against the one stored with the latest
checkpoint (:func:`tasks.train.resume.compare_configs`).

>>> from tasks.train.config import TrainConfig
>>> check_training_inputs(TrainConfig(data=["file:///nowhere/runs/r1"], base_model="smollm2-135m", out="file:///tmp/o"))
Traceback (most recent call last):
...
ValueError: file:///nowhere/runs/r1: no synthesis run 'r1' in file:///nowhere
"""

from __future__ import annotations

import logging
import math

from tasks.storage.store import open_store
from tasks.train.base_model import check_base_model
from tasks.train.checkpoint import CONFIG_FILE
from tasks.train.config import TrainConfig
from tasks.train.data import batch_schedule, pairs_digest, pairs_for
from tasks.train.launch import checkpoint_dirs
from tasks.train.resume import compare_configs

log = logging.getLogger(__name__)


def latest_checkpoint_config(out_url: str, folders: list[str] | None = None) -> dict | None:
    """The ``train_config.json`` of the newest checkpoint under ``{out}/ray/train``, or None.

    ``folders``: that listing, newest first, when the caller has it (:func:`checkpoint_dirs`).
    A folder without a config (an upload cut short) is passed over, as Ray passes over a
    checkpoint it never registered.
    """
    store = open_store(out_url)
    for folder in checkpoint_dirs(out_url) if folders is None else folders:
        if (config := store.read_json(f"{folder.rstrip('/')}/{CONFIG_FILE}")) is not None:
            return config
    return None


def steps_for_epochs(epochs: float, rows: int, batch_size: int) -> int:
    """``--epochs`` as optimizer steps: enough batches to see every training row ``epochs`` times.

    >>> steps_for_epochs(3, rows=90, batch_size=32), steps_for_epochs(0.1, rows=10, batch_size=8)
    (9, 1)
    """
    return max(1, math.ceil(epochs * rows / batch_size))


def check_training_inputs(config: TrainConfig, resume: bool = False) -> int:
    """Validate sizes, output, data (and a resume's config) and model; return the number of training pairs.

    Sets ``config.data_digest`` (:func:`tasks.train.data.pairs_digest`, over the training and the
    held-out pairs) for the checkpoints to store, and ``config.steps`` when given as ``epochs``.
    """
    config.validate()
    folders = checkpoint_dirs(config.out)  # listed once: on S3 each listing is a request
    if folders and not resume:
        raise ValueError(f"{config.out} already holds checkpoints of a training run: pass --resume to "
                         "continue it, or choose another --out")
    data = pairs_for(config)
    pairs = data.train
    if config.early_stop_patience is not None and not data.heldout:
        raise ValueError(f"early_stop_patience needs held-out rows, and holdout_fraction {config.holdout_fraction} "
                         f"holds out none of {len(pairs)} rows (--holdout-fraction 0.1, or more data)")
    if config.epochs is not None:
        config.steps = steps_for_epochs(config.epochs, len(pairs), config.batch_size)
    config.data_digest = pairs_digest(pairs + data.heldout)  # stored with every checkpoint
    if resume and (stored := latest_checkpoint_config(config.out, folders)) is not None:
        for change in compare_configs(stored, config, config.extend_steps):
            log.info("resuming with %s changed: %r -> %r", change.name, change.old, change.new)
    batch_schedule(pairs, config.batch_size, 1, config.seed, config.same_task_type_batches)  # raises if unfillable
    check_base_model(config.base_model)
    return len(pairs)
