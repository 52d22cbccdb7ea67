"""What a resumed training run may change: the stored configuration against the new one.

A resume must train the same model as the run it continues. A field that changes the result
(data, model, loss, optimiser, schedule, seed, ...) must keep its stored value; fields that only
say where, how fast or how safely to train (:data:`FREE_FIELDS`) may change. ``steps`` may grow
only with ``--extend-steps`` (the decay is then re-planned, :func:`tasks.train.schedule.extend_schedule`)
and never shrink. Every field not listed as free counts as changing the result, so a field added
later is protected until someone decides otherwise; a field missing from an older checkpoint is
taken at its default (which is how that older code behaved).

>>> from tasks.train.config import TrainConfig
>>> new = TrainConfig(data=["file:///d/runs/r1"], base_model="m", out="file:///o", steps=8, learning_rate=1e-3)
>>> stored = {**new.to_dict(), "steps": 6, "learning_rate": 1e-4, "num_workers": 2}
>>> compare_configs(stored, new, extend_steps=False)
Traceback (most recent call last):
...
ValueError: file:///o holds checkpoints of a run trained with other settings; a resume cannot change what is trained:
  steps: 6 -> 8 (to train longer, add --extend-steps)
  learning_rate: 0.0001 -> 0.001
Resume with the stored values, or start a new run with another --out.
>>> compare_configs({**stored, "learning_rate": 1e-3}, new, extend_steps=True)
[ConfigChange(name='steps', old=6, new=8), ConfigChange(name='num_workers', old=2, new=1)]
"""

from __future__ import annotations

import json
from dataclasses import MISSING, dataclass, fields

from tasks.train.config import TrainConfig

FREE_FIELDS = frozenset({
    "out",  # where the run lives: a moved --out still holds the same run
    # The global batch is batch_size (compared); each worker takes a slice, the loss is computed
    # over the gathered union batch and the gradients are summed, so the worker count changes
    # only the order of float sums, not what is optimised (tests/train/test_distributed.py).
    "num_workers",
    # Hardware, precision and kernels: rounding, not the objective.
    "use_gpu", "bf16", "cpus_per_worker", "attn_implementation",
    # Memory and speed only: GradCache's result does not depend on how a batch is cut into passes.
    "mini_batch_size", "mini_batch_tokens", "no_grad_scale", "gradient_checkpointing",
    "checkpoint_every", "keep_checkpoints", "max_failures",  # bookkeeping
    "extend_steps",  # the permission itself
    "extra",  # free-form notes
})


@dataclass(frozen=True)
class ConfigChange:
    """One field whose value differs between the stored and the new configuration."""

    name: str
    old: object
    new: object


def _default(name: str) -> object:
    """The dataclass default of a field, or MISSING for a required one."""
    field = next(f for f in fields(TrainConfig) if f.name == name)
    if field.default_factory is not MISSING:
        return field.default_factory()
    return field.default


def _as_stored(config: TrainConfig) -> dict:
    """The new config as a checkpoint holds it (JSON: tuples become lists, etc.)."""
    return json.loads(json.dumps(config.to_dict(), default=str))


def compare_configs(stored: dict, new: TrainConfig, extend_steps: bool) -> list[ConfigChange]:
    """Raise one ValueError naming every change a resume may not make; return the allowed changes.

    ``stored`` is the ``train_config.json`` of the checkpoint being resumed. Fields the stored
    config lacks are compared at their default; fields the code no longer has are ignored.
    """
    current = _as_stored(new)
    changes = [ConfigChange(name, stored.get(name, _default(name)), value)
               for name, value in current.items() if stored.get(name, _default(name)) != value]
    refused: list[str] = []
    for change in changes:
        if change.name == "steps" and isinstance(change.old, int) and change.new > change.old:
            if not extend_steps:
                refused.append(f"  steps: {change.old} -> {change.new} (to train longer, add --extend-steps)")
        elif change.name == "steps":
            refused.append(f"  steps: {change.old} -> {change.new} (steps cannot shrink: the run's learning "
                           f"rate already decays towards step {change.old})")
        elif change.name == "data_digest":
            if None not in (change.old, change.new):  # a checkpoint older than the digest cannot tell
                refused.append(f"  data_digest: {change.old[:12]}… -> {change.new[:12]}… (the rows of {', '.join(new.data)} "
                               "changed since this run started: a retry or clean wrote to a run, or a labelled set changed)")
        elif change.name not in FREE_FIELDS:
            old = "(not stored)" if change.old is MISSING else repr(change.old)
            refused.append(f"  {change.name}: {old} -> {change.new!r}")
    if refused:
        heading = (f"{new.out} holds checkpoints of a run trained with other settings; "
                   "a resume cannot change what is trained:")
        raise ValueError("\n".join([heading, *refused,
                                    "Resume with the stored values, or start a new run with another --out."]))
    return changes
