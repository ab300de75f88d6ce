"""A run's progress: the snapshot a trainer publishes and the text every front end shows.

:class:`TrainProgress` is what :attr:`Trainer.progress` returns. :func:`progress_text` is
the one progress line, shown by the monitor pane and by ``dltui train`` on a terminal;
:class:`EpochLines` writes one line per completed epoch for a log file, from the metric
points. Numbers, durations and sizes come from :mod:`tui.core.text`, so they read the
same here as anywhere else.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tui.core.text import duration_text, human_bytes, number_text
from tui.core.train.config import RunState
from tui.core.train.series import MetricPoint

__all__ = [
    "EpochLines",
    "TrainProgress",
    "epoch_line",
    "progress_text",
    "summary_text",
    "watch_text",
]


@dataclass(frozen=True)
class TrainProgress:
    """A snapshot of a run, for a status line. Losses are None until first measured.

    ``epoch`` is the epoch being trained (from 1), ``epochs_done`` those completed
    (validated and checkpointed); ``step`` counts the optimizer steps done.
    ``samples_per_sec`` is smoothed over recent read-backs; ``eta_seconds`` assumes
    it holds. ``train_loss`` is the latest batch's loss, ``epoch_train_loss`` the mean
    over the last completed epoch. ``cuda_memory_*`` are bytes, None off CUDA.
    """

    state: RunState = RunState.IDLE
    epoch: int = 0
    epochs: int = 0
    epochs_done: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    total_steps: int = 0
    samples_per_sec: float | None = None
    eta_seconds: float | None = None
    elapsed_seconds: float = 0.0
    train_loss: float | None = None
    best_train_loss: float | None = None
    epoch_train_loss: float | None = None
    val_loss: float | None = None
    best_val_loss: float | None = None
    val_accuracy: float | None = None
    best_val_accuracy: float | None = None
    lr: float | None = None
    cuda_memory_allocated: int | None = None
    cuda_memory_peak: int | None = None  # the process's peak on the run's device
    error: str | None = None


def _bar(done: float, width: int) -> str:
    filled = min(width, int(done * width))
    return "━" * filled + ("╸" if filled < width else "") + "─" * max(0, width - filled - 1)


def _accuracy(value: float) -> str:
    return f"acc {value * 100:.1f}%"


def progress_text(p: TrainProgress, bar_width: int = 20, compact: bool = False) -> str:
    """The progress line: state, bar, epoch, step, losses (and bests), accuracy, speed,
    ETA, learning rate, CUDA memory.

    ``compact`` (the terminal line of ``dltui train``, shown while it trains) leaves out
    the state, the bar, the bests and the learning rate: the figures that move come
    first and most of the line fits in 80 columns.
    """
    done = p.step / p.total_steps if p.total_steps else 0.0
    if compact:
        head = f"{done * 100:.0f}%"
    else:
        head = f"{p.state:<8}" + (f" {_bar(done, bar_width)}" if bar_width > 0 else "")
        head += f" {done * 100:3.0f}%"
    parts = [head, f"epoch {p.epoch}/{p.epochs}"]
    parts.append(f"step {p.step}/{p.total_steps}")
    if compact:
        parts.append(f"loss {number_text(p.train_loss)}")
        if p.val_loss is not None:
            parts.append(f"val {number_text(p.val_loss)}")
    else:
        parts.append(f"loss {number_text(p.train_loss)} (best {number_text(p.best_train_loss)})")
        parts.append(f"val {number_text(p.val_loss)} (best {number_text(p.best_val_loss)})")
    if p.val_accuracy is not None:
        parts.append(_accuracy(p.val_accuracy))
    parts.append(f"{number_text(p.samples_per_sec, ',.0f')} samples/s")
    parts.append(f"ETA {duration_text(p.eta_seconds)}")
    if not compact:
        parts.append(f"lr {number_text(p.lr, '.3g')}")
    if p.cuda_memory_allocated is not None:
        parts.append(
            f"CUDA {human_bytes(p.cuda_memory_allocated)} / peak "
            f"{human_bytes(p.cuda_memory_peak or 0)}"
        )
    return "  ".join(parts)


def summary_text(p: TrainProgress) -> str:
    """The short form for the status line of every pane; '' once the run has ended."""
    if not p.state.active:
        return ""
    return f"▶ {p.state} {p.epoch}/{p.epochs} loss {number_text(p.train_loss)}"


def epoch_line(
    epoch: int,
    epochs: int,
    step: int,
    loss: float | None,
    val_loss: float | None = None,
    val_accuracy: float | None = None,
    samples_per_sec: float | None = None,
) -> str:
    """One completed epoch, for a log: ``epoch 3/10  step 48  loss 0.3  val 0.4  acc 81.0%``."""
    parts = [f"epoch {epoch}/{epochs}", f"step {step}", f"loss {number_text(loss)}"]
    if val_loss is not None:
        parts.append(f"val {number_text(val_loss)}")
    if val_accuracy is not None:
        parts.append(_accuracy(val_accuracy))
    if samples_per_sec:
        parts.append(f"{number_text(samples_per_sec, ',.0f')} samples/s")
    return "  ".join(parts)


class EpochLines:
    """Turns a run's metric points into one :func:`epoch_line` per completed epoch.

    Feed it every drained point; :meth:`completed` returns the lines of the epochs done
    since the last call. Read the progress before draining: every point of an epoch
    counted in ``epochs_done`` has been emitted before the count moved.
    """

    def __init__(self, epochs: int) -> None:
        self.epochs = epochs
        self.printed = 0
        self._epochs: dict[int, dict[str, Any]] = {}

    def feed(self, points: Iterable[MetricPoint]) -> None:
        for point in points:
            e = self._epochs.setdefault(point.epoch, {"sum": 0.0, "n": 0, "step": 0})
            e["step"] = max(e["step"], point.step)
            if point.name == "train/loss" and math.isfinite(point.value):
                e["sum"] += point.value
                e["n"] += 1
            elif point.name in ("val/loss", "val/accuracy"):
                e[point.name] = point.value

    def completed(self, epochs_done: int, samples_per_sec: float | None = None) -> list[str]:
        lines = []
        while self.printed < epochs_done:
            self.printed += 1
            e = self._epochs.pop(self.printed, {"sum": 0.0, "n": 0, "step": 0})
            lines.append(
                epoch_line(
                    self.printed,
                    self.epochs,
                    e["step"],
                    e["sum"] / e["n"] if e["n"] else None,
                    e.get("val/loss"),
                    e.get("val/accuracy"),
                    samples_per_sec,
                )
            )
        return lines


def watch_text(
    name: str, state: RunState | None, step: int, loss: float | None, error: str | None = None
) -> str:
    """The progress line of a run followed on disk (``dltui watch``); ``state`` None
    while the run has written no status yet."""
    shown = state if state is not None else "waiting for the run to start"
    text = f"watching {name}: {shown}  step {step}  loss {number_text(loss)}"
    if error:
        text += f"  error: {error}"
    return text
