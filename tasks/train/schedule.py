"""The learning-rate schedule as data: warm-up, a linear decay to 0 — and how it grows.

A schedule is the multiplier of the base learning rate at each optimizer step (``LambdaLR``'s
``lr_lambda``), drawn as straight lines through knots ``(step, multiplier)``. It is data, not a
closure, so a checkpoint stores the plan a run actually followed and a resume rebuilds it.

>>> plan = LRSchedule.warmup_then_linear(warmup_steps=1, total_steps=6)
>>> plan.knots
((0, 1.0), (1, 1.0), (6, 0.0))
>>> [round(plan(step), 2) for step in range(7)]
[1.0, 1.0, 0.8, 0.6, 0.4, 0.2, 0.0]

Extending the finished run to 8 steps (``--extend-steps``) keeps the 6 steps it trained and
continues from the multiplier of its last step (0.2 at step 5) down to 0 at step 8, with no
second warm-up:

>>> longer = extend_schedule(plan, done_steps=6, total_steps=8)
>>> longer.knots
((0, 1.0), (1, 1.0), (5, 0.2), (8, 0.0))
>>> [round(longer(step), 3) for step in range(4, 9)]
[0.4, 0.2, 0.133, 0.067, 0.0]
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LRSchedule:
    """Straight lines through ``knots`` (increasing steps, the last one ``(total_steps, 0.0)``)."""

    knots: tuple[tuple[int, float], ...]

    def __post_init__(self) -> None:  # a checkpoint's JSON gives lists back
        object.__setattr__(self, "knots", tuple((int(s), float(f)) for s, f in self.knots))

    @classmethod
    def warmup_then_linear(cls, warmup_steps: int, total_steps: int) -> LRSchedule:
        """Linear warm-up over ``warmup_steps`` steps ((step + 1) / warmup_steps), then a linear
        decay from 1 at ``warmup_steps`` to 0 at ``total_steps``."""
        w, n = warmup_steps, total_steps
        if w == 0:
            knots = [(0, 1.0), (n, 0.0)]
        elif n <= w:  # the warm-up never ends: ramp while training, 0 after
            knots = [(0, 1 / w), (n - 1, n / w), (n, 0.0)]
        else:
            knots = [(0, 1 / w), (w - 1, 1.0), (w, 1.0), (n, 0.0)]
        return cls(tuple(k for i, k in enumerate(knots) if i == 0 or k[0] != knots[i - 1][0]))

    @property
    def total_steps(self) -> int:
        return self.knots[-1][0]

    def __call__(self, step: int) -> float:
        for (s0, f0), (s1, f1) in zip(self.knots, self.knots[1:]):
            if step <= s1:
                return (f0 * (s1 - step) + f1 * (step - s0)) / (s1 - s0)
        return 0.0


def extend_schedule(schedule: LRSchedule, done_steps: int, total_steps: int) -> LRSchedule:
    """The plan for continuing ``schedule`` after ``done_steps`` steps up to ``total_steps``.

    The same total: the same plan. A larger total: the steps already trained keep their
    multipliers, and the final decay is re-planned as a line from the multiplier of the last
    trained step (``done_steps - 1``) to 0 at the new total — no jump, no second warm-up. A run
    stopped before its final decay began (still warming up) gets that decay moved to the new
    total, which is the plan of the longer run. A smaller total is refused: the run has already
    decayed towards the longer one.

    >>> plan = LRSchedule.warmup_then_linear(warmup_steps=4, total_steps=6)
    >>> extend_schedule(plan, done_steps=3, total_steps=10) == LRSchedule.warmup_then_linear(4, 10)
    True
    >>> extend_schedule(plan, done_steps=6, total_steps=6) is plan
    True
    """
    if total_steps == schedule.total_steps:
        return schedule
    if total_steps < schedule.total_steps:
        raise ValueError(f"cannot shorten a learning-rate schedule planned for {schedule.total_steps} steps "
                         f"to {total_steps}")
    before_decay, last = schedule.knots[:-1], done_steps - 1  # the final decay starts at before_decay[-1]
    if last <= before_decay[-1][0]:
        return LRSchedule((*before_decay, (total_steps, 0.0)))
    kept = tuple(k for k in before_decay if k[0] < last)
    return LRSchedule((*kept, (last, schedule(last)), (total_steps, 0.0)))
