"""Learning-rate schedules as a pure function of the step: constant, step, cosine, one-cycle.

The learning rate of step ``k`` (0-based: the steps done before it) is
``config.lr * scale * factor(k)``. ``factor`` depends only on the step and the run's
shape (steps per epoch, total steps), so a resumed run continues its schedule from the
checkpoint's step with nothing else to restore; ``scale`` is what the monitor's ``+``/``-``
change (they scale the schedule instead of fighting it) and is saved with the run.

- ``constant``: 1 (after the warm-up);
- ``step``: ``gamma ** (epoch // step_epochs)``, as ``torch.optim.lr_scheduler.StepLR``
  stepped once per epoch;
- ``cosine``: from 1 down to 0 over the steps after the warm-up, as ``CosineAnnealingLR``
  (``eta_min=0``) stepped once per step;
- ``onecycle``: ``OneCycleLR``'s curve with ``max_lr = config.lr`` (start at lr/25, peak
  at 30 % of the run, end at lr/25/10^4, cosine annealing); it has its own warm-up.

A warm-up of ``warmup_steps`` multiplies the first steps by ``(k + 1) / warmup_steps``
(not for onecycle). ``tests/train/test_schedule.py`` checks each curve against PyTorch's
own scheduler.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["SCHEDULES", "Schedule"]

SCHEDULES = ("constant", "step", "cosine", "onecycle")

# OneCycleLR's defaults.
ONECYCLE_PCT_START = 0.3
ONECYCLE_DIV = 25.0
ONECYCLE_FINAL_DIV = 1e4


@dataclass(frozen=True)
class Schedule:
    """The learning-rate factor of each step of one run."""

    kind: str
    total_steps: int
    steps_per_epoch: int
    warmup_steps: int = 0
    step_epochs: int = 10
    gamma: float = 0.1

    def factor(self, step: int) -> float:
        """The factor of step ``step`` (0-based); past the end, the last step's."""
        total = max(1, self.total_steps)
        k = min(max(0, step), total - 1)
        if self.kind == "onecycle":
            return _onecycle(k, total)
        warm = 1.0
        if self.warmup_steps and k < self.warmup_steps:
            warm = (k + 1) / self.warmup_steps
        if self.kind == "step":
            epoch = k // max(1, self.steps_per_epoch)
            return warm * self.gamma ** (epoch // max(1, self.step_epochs))
        if self.kind == "cosine":
            span = total - self.warmup_steps
            if k < self.warmup_steps or span <= 0:
                return warm
            return 0.5 * (1.0 + math.cos(math.pi * (k - self.warmup_steps) / span))
        return warm

    @property
    def constant(self) -> bool:
        return self.kind == "constant" and not self.warmup_steps


def _onecycle(k: int, total: int) -> float:
    """OneCycleLR's learning rate at step ``k`` over ``max_lr`` (its 'cos' annealing)."""
    initial = 1.0 / ONECYCLE_DIV
    final = initial / ONECYCLE_FINAL_DIV
    up_end = float(ONECYCLE_PCT_START * total) - 1
    phases = ((up_end, initial, 1.0), (float(total - 1), 1.0, final))
    start_step = 0.0
    for i, (end_step, start, end) in enumerate(phases):
        if k <= end_step or i == len(phases) - 1:
            span = end_step - start_step
            pct = (k - start_step) / span if span > 0 else 1.0
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        start_step = end_step
    return final  # pragma: no cover
