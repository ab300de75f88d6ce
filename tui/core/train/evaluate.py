"""The pieces of a training run around the steps: the validation pass and failures.

:func:`evaluate` is one validation pass with a single device read-back at the end;
:func:`explain_failure` puts whatever ended a run in plain words for ``status.json``
and the UI. :class:`RunEnded` and :class:`RunFailure` are the loop's own signals.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from tui.core.text import first_line
from tui.core.train.batches import Batches, eval_batch_bounds
from tui.core.train.config import correct_count
from tui.core.train.data.bundle import DataError, SampleError
from tui.core.train.distributed import Dist, all_sum, shard
from tui.core.train.runs import RunWriteError

__all__ = ["RunEnded", "RunFailure", "evaluate", "explain_failure"]


class RunEnded(Exception):
    """The loop was asked to stop."""


class RunFailure(Exception):
    """A failure already put in plain words."""


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Batches,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    loss: str,
    batch_size: int,
    device: torch.device,
    stop_requested: Callable[[], bool],
    autocast: Callable[[], contextlib.AbstractContextManager[Any]] = contextlib.nullcontext,
    dist: Dist | None = None,
) -> tuple[float, float | None]:
    """Mean validation loss and accuracy (None for regression) over ``batches``.

    Raises :class:`RunEnded` between batches once ``stop_requested()`` holds.
    """
    model.eval()
    # Per-batch sums stay on the device in the loss's own dtype (no float64 there: MPS
    # has none) and come back in one read-back; the sum is then taken on the host in
    # Python floats, as precise as a float64 accumulator.
    sums: list[torch.Tensor] = []
    corrects: list[torch.Tensor] = []
    order = torch.arange(batches.n, device=batches.index_device)
    if dist is not None:  # each rank its share; the sums are added up below
        order = shard(order, dist, equal=False)
    bounds = eval_batch_bounds(order.shape[0], batch_size)
    source = batches.epoch(order, bounds)
    for lo, hi in bounds:
        if stop_requested():
            raise RunEnded
        x, y = next(source)
        with autocast():  # the run's precision, as in training
            out = model(x)
            loss_value = loss_fn(out, y)
        # Sum per-batch means weighted by batch size: the mean over all samples.
        sums.append(loss_value.detach().float().reshape(()) * (hi - lo))
        c = correct_count(out, y, loss)
        if c is not None:
            corrects.append(c.float().reshape(()))
    model.train()
    if dist is not None:
        # Every rank sends the same three numbers (a rank with no batch sends zeros).
        zero = torch.zeros((), device=device)
        local = torch.stack(
            [
                torch.stack(sums).sum() if sums else zero,
                torch.stack(corrects).sum() if corrects else zero,
                torch.tensor(1.0 if corrects else 0.0, device=device),
            ]
        )
        loss_sum, acc_sum, has_acc = all_sum(local).cpu().tolist()
        return loss_sum / batches.n, (acc_sum / batches.n if has_acc > 0 else None)
    if not sums:
        return math.nan, None
    # One read-back for the whole validation pass: copy to the host, then convert.
    values = torch.stack(sums + corrects).cpu().tolist()
    loss_sum = math.fsum(values[: len(sums)])
    acc = math.fsum(values[len(sums) :]) if corrects else None
    return loss_sum / batches.n, (acc / batches.n if acc is not None else None)


def explain_failure(exc: BaseException, step: int, epoch: int, batch_size: int) -> str:
    """Why a run failed, in plain words; ``step`` is the number of steps done."""
    where = f" at step {step + 1} (epoch {epoch})" if epoch else ""
    if isinstance(exc, RunWriteError):  # a full disk...: already in plain words
        return str(exc)
    if isinstance(exc, (RunFailure, DataError)) and not isinstance(exc, SampleError):
        return str(exc)
    if isinstance(exc, SampleError):
        return f"{exc} (step {step + 1}, epoch {epoch})" if epoch else str(exc)
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        # The cache is emptied once the run has ended (Trainer._release): here the
        # traceback still holds the failed step's activations.
        half = max(1, batch_size // 2)
        return (
            f"the GPU ran out of memory{where} with batch size {batch_size}: "
            f"lower the batch size (try {half}) or use a smaller model"
        )
    if isinstance(exc, KeyboardInterrupt):
        return f"interrupted{where}"
    # first_line falls back to the type's name for an empty message.
    text = first_line(exc)
    name = type(exc).__name__
    return f"{name}{where}" if text == name else f"{name}{where}: {text}"
