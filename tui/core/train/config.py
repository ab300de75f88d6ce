"""How to train, and the states a run goes through: one home for both.

:class:`TrainConfig` holds every setting of a run and its defaults, the one set that the
monitor's form, ``dltui train`` and a script share. :class:`RunState` is the one list of
states used by the trainer, ``status.json`` and the monitor. The losses and optimizers a
config may name live here too.

This module needs no torch to import (``runs.py`` reads run states before torch has
loaded); the functions that do need it import it when called.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

__all__ = [
    "DEFAULT_DATA",
    "LOSSES",
    "LOSS_AUTO",
    "OPTIMIZERS",
    "PRECISIONS",
    "RunState",
    "TrainConfig",
    "correct_count",
    "default_loss",
    "default_num_threads",
    "make_config",
    "make_loss",
]

LOSSES = ("cross_entropy", "mse", "bce_with_logits", "l1")
OPTIMIZERS = ("sgd", "adam", "adamw")
PRECISIONS = ("32", "bf16", "fp16")
LOSS_AUTO = "auto"  # the usual loss for the data's task, chosen once the data is loaded
DEFAULT_DATA = "spirals"  # what the monitor's form offers before the user types anything


class RunState(StrEnum):
    """The state of a run. A ``str``: it compares with, and JSON-encodes as, its value.

    ``IDLE`` is a trainer not started yet; ``DIED`` is what readers show for a run whose
    ``status.json`` says running but whose writer process is gone; ``UNKNOWN`` a folder
    with no readable status.
    """

    IDLE = "idle"
    RUNNING = "running"
    PAUSED = "paused"
    FINISHED = "finished"
    FAILED = "failed"
    STOPPED = "stopped"
    DIED = "died"
    UNKNOWN = "unknown"

    @property
    def active(self) -> bool:
        """Training or paused: the run can still be steered."""
        return self in (RunState.RUNNING, RunState.PAUSED)

    @property
    def ended(self) -> bool:
        """Finished, failed or stopped: nothing will change any more."""
        return self in (RunState.FINISHED, RunState.FAILED, RunState.STOPPED)

    @property
    def written(self) -> bool:
        """A state a trainer writes into ``status.json`` (readers derive the others)."""
        return self.active or self.ended

    @classmethod
    def parse(cls, value: Any) -> RunState:
        """``value`` as a state; anything that is not one (a hand-edited file) is UNKNOWN."""
        try:
            return cls(value)
        except ValueError:
            return cls.UNKNOWN


@dataclass
class TrainConfig:
    """How to train. :meth:`validate` raises ``ValueError`` naming the bad field.

    The field defaults are dltui's defaults, for the monitor and ``dltui train`` alike.
    ``loss="auto"`` means the usual loss for the data's task (:func:`default_loss`),
    resolved with :meth:`for_task` once the data is known. ``num_threads=None`` picks
    :func:`default_num_threads`; ``grad_clip`` is a maximum gradient norm, or None for
    no clipping. ``val_split`` is used by callers that split a bundle without a
    validation set (the trainer itself trains on what it is given).
    """

    loss: str = LOSS_AUTO
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 10
    val_split: float = 0.2
    seed: int = 0
    device: str = "cpu"
    grad_clip: float | None = None
    num_threads: int | None = None
    # CUDA float32 math (tui.core.train.precision): TF32 matmuls and convolutions
    # (Ampere and later; ~10 bits of mantissa, as PyTorch Lightning and most GPU users
    # train), and cuDNN picking the fastest convolution for fixed shapes.
    tf32: bool = True
    cudnn_benchmark: bool = True
    # Seconds: validation, checkpoints and status.json at the end of an epoch, but at most
    # this often (the last epoch always); 0 = every epoch. Tiny epochs stay cheap.
    eval_interval: float = 2.0
    # Learning-rate schedule (tui.core.train.schedule): constant, step, cosine, onecycle;
    # a linear warm-up over the first warmup_steps; step multiplies by gamma every
    # step_epochs epochs.
    # Mixed precision: "32" (float32), "bf16" or "fp16" (autocast; fp16 with a GradScaler,
    # on CUDA/MPS only); compile: torch.compile the model for training.
    # DataLoader worker processes for a Dataset that is not tensor-backed (None: chosen
    # from the machine's cores, tui.core.train.loader.default_workers; 0: read in the
    # training thread). Tensor data is sliced directly and needs none.
    workers: int | None = None
    # A per-step look at the loss and the gradients on a GPU too (a device sync a step),
    # so a post-mortem starts at the very step that went non-finite.
    detect_anomaly: bool = False
    precision: str = "32"
    compile: bool = False
    schedule: str = "constant"
    warmup_steps: int = 0
    step_epochs: int = 10
    gamma: float = 0.1

    def validate(self) -> None:
        if self.loss not in (*LOSSES, LOSS_AUTO):
            raise ValueError(f"loss {self.loss!r} is not one of {', '.join(LOSSES)} or auto")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        for name in ("lr", "momentum", "weight_decay"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number of 0 or more, not {v!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be above 0, not {self.lr!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, not {self.batch_size!r}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, not {self.epochs!r}")
        if not (isinstance(self.val_split, (int, float)) and 0 <= self.val_split < 1):
            raise ValueError(f"val split must be at least 0 and below 1, not {self.val_split!r}")
        if self.grad_clip is not None and not (
            isinstance(self.grad_clip, (int, float)) and self.grad_clip > 0
        ):
            raise ValueError(f"grad clip must be above 0 (or None), not {self.grad_clip!r}")
        if self.num_threads is not None and (
            not isinstance(self.num_threads, int) or self.num_threads < 1
        ):
            raise ValueError(f"num threads must be at least 1, not {self.num_threads!r}")
        if not (
            isinstance(self.eval_interval, (int, float))
            and math.isfinite(self.eval_interval)
            and self.eval_interval >= 0
        ):
            raise ValueError(f"eval interval must be 0 or more seconds, not {self.eval_interval!r}")
        from tui.core.train.schedule import SCHEDULES

        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule {self.schedule!r} is not one of {', '.join(SCHEDULES)}")
        if not isinstance(self.warmup_steps, int) or self.warmup_steps < 0:
            raise ValueError(f"warmup steps must be 0 or more, not {self.warmup_steps!r}")
        if not isinstance(self.step_epochs, int) or self.step_epochs < 1:
            raise ValueError(f"step epochs must be at least 1, not {self.step_epochs!r}")
        if not (
            isinstance(self.gamma, (int, float)) and math.isfinite(self.gamma) and self.gamma > 0
        ):
            raise ValueError(f"gamma must be a number above 0, not {self.gamma!r}")
        if self.workers is not None and (not isinstance(self.workers, int) or self.workers < 0):
            raise ValueError(f"workers must be 0 or more, not {self.workers!r}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r} is not one of {', '.join(PRECISIONS)}")
        if self.precision == "fp16" and str(self.device).split(":")[0] == "cpu":
            raise ValueError(
                "precision fp16 needs a GPU (CUDA or MPS): on the CPU use bf16, which "
                "needs no loss scaling"
            )
        for name in ("tf32", "cudnn_benchmark", "compile", "detect_anomaly"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, not {getattr(self, name)!r}")
        import torch

        try:
            torch.device(self.device)
        except (RuntimeError, TypeError):
            raise ValueError(
                f"device {self.device!r} is not a device name (cpu, cuda, cuda:1, mps)"
            ) from None

    def for_task(self, task: str) -> TrainConfig:
        """This config with ``loss="auto"`` replaced by the usual loss for ``task``."""
        if self.loss != LOSS_AUTO:
            return self
        return replace(self, loss=default_loss(task))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_config(changes: Mapping[str, Any]) -> TrainConfig:
    """The default :class:`TrainConfig` with ``changes`` (None values are left out: an
    option not given), validated. ``ValueError`` names a bad or unknown setting."""
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(changes) - names)
    if unknown:
        raise ValueError(f"unknown training setting {unknown[0]!r}")
    config = replace(TrainConfig(), **{k: v for k, v in changes.items() if v is not None})
    config.validate()
    return config


def default_loss(task: str) -> str:
    """Cross-entropy for classification, mean squared error for regression."""
    return "cross_entropy" if task == "classification" else "mse"


def default_num_threads() -> int:
    """Intra-op threads for training: leave one core to the UI thread, use at most 8.

    Measured on a 2-core machine (small MLP 2-64-64-2 batch 32 / MLP 784-256-10 batch
    128, Adam, medians of 5 one-second runs, other processes sharing the cores):
    1 thread 223 / 58 steps/s, 2 threads 27 / 5 steps/s; with another thread spinning in
    Python 34 / 32 vs 5 / 4; with another thread busy in native code (GIL released)
    322 / 77 vs 48 / 6. Two threads on two cores lose 5-10x as soon as anything else
    wants a core (OpenMP workers wait on each other), so 2 cores get 1 thread.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus - 1, 8))


def make_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss function ``name`` as ``f(output, target) -> scalar``.

    ``bce_with_logits`` also accepts 0/1 class labels (int64, shape (B,)) against one
    logit per sample: the labels are turned into float targets of the output's shape.
    """
    import torch.nn.functional as F

    if name == "cross_entropy":
        return F.cross_entropy
    if name == "mse":
        return F.mse_loss
    if name == "l1":
        return F.l1_loss
    if name == "bce_with_logits":

        def bce(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            if not target.dtype.is_floating_point:
                target = target.to(output.dtype).reshape(output.shape)
            return F.binary_cross_entropy_with_logits(output, target)

        return bce
    raise ValueError(f"loss {name!r} is not one of {', '.join(LOSSES)}")


def correct_count(output: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor | None:
    """Number of correct predictions in a batch (a device tensor), None for regression."""
    if target.dtype.is_floating_point:
        if loss != "bce_with_logits":
            return None
        # Multi-label targets: each sample counts by the fraction of its labels right.
        hits = ((output > 0) == (target > 0.5)).float()
        return hits.reshape(hits.shape[0], -1).mean(dim=1).sum()
    if loss == "cross_entropy":
        return (output.argmax(dim=1) == target).sum()
    if loss == "bce_with_logits":
        return ((output.reshape(target.shape) > 0).long() == target).sum()
    return None
