"""Checks that turn bad training input into one clear error before Ray or a model starts.

>>> from tasks.train.config import TrainConfig
>>> check_training_inputs(TrainConfig(data=["file:///nowhere/runs/r1"], base_model="smollm2-135m", out="file:///tmp/o"))
Traceback (most recent call last):
...
ValueError: file:///nowhere/runs/r1: no synthesis run 'r1' in file:///nowhere
"""

from __future__ import annotations

from tasks.train.base_model import check_base_model
from tasks.train.config import TrainConfig
from tasks.train.data import batch_schedule, load_pairs
from tasks.train.launch import has_checkpoints


def check_training_inputs(config: TrainConfig, resume: bool = False) -> int:
    """Validate sizes, data, model and output; return the number of training pairs."""
    config.validate()
    pairs = load_pairs(config.data, config.data_weights, config.seed)
    batch_schedule(pairs, config.batch_size, 1, config.seed)  # raises if the batch cannot be filled
    check_base_model(config.base_model)
    if has_checkpoints(config.out) and not resume:
        raise ValueError(f"{config.out} already holds checkpoints of a training run: pass --resume to "
                         "continue it, or choose another --out")
    return len(pairs)
