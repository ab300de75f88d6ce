"""What a checkpoint holds beyond the weights, so that a resumed run continues exactly.

``checkpoint-last.pt`` is written at the end of every epoch and when a run is stopped
(possibly mid-epoch). For ``dltui train --resume`` it holds, besides the model's and the
optimizer's state dicts (the learning rate is in the optimizer's parameter groups):

- where the run is: ``step`` (optimizer steps done), ``epoch`` (the epoch of the last
  step), ``epochs_done`` (epochs completed, validation included) and ``epoch_step``
  (steps done in epoch ``epochs_done + 1``), with ``steps_per_epoch`` to check that the
  data still cuts into the same batches;
- ``rng``: the states of torch's generator (dropout and other random layers; CUDA's too
  when used), NumPy's and Python's global generators, and the shuffling generator *as it
  was before the permutation of epoch* ``epochs_done + 1``, so the resumed epoch
  shuffles the same way and skips the batches already done;
- ``stats``: the running figures the trainer reports (best losses, so a worse epoch does
  not overwrite ``checkpoint-best.pt``; the partial epoch's loss sum);
- ``scheduler``: the learning-rate schedule's level (``lr_scale``); ``grad_scaler``: the
  fp16 GradScaler's state (None at other precisions).

Everything is a tensor, an int, a float, a string, None, or lists and dicts of them,
so it loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from tui.core.train.config import TrainConfig

__all__ = [
    "CHECKPOINT_FORMAT",
    "ResumePoint",
    "capture_rng",
    "checkpoint_extra",
    "make_optimizer",
    "restore_rng",
]

CHECKPOINT_FORMAT = 2  # 1: model, optimizer, step, epoch only (no resume)
# The trainer's running figures a checkpoint keeps (floats or None).
STATS = (
    "lr",
    "train_loss",
    "best_train_loss",
    "epoch_train_loss",
    "val_loss",
    "best_val_loss",
    "val_accuracy",
    "best_val_accuracy",
)


def make_optimizer(model: nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer | None:
    """The optimizer ``cfg`` names over ``model``'s trainable parameters (None: none)."""
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        return None
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
        )
    if cfg.optimizer == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def capture_rng(shuffle_state: torch.Tensor, device: torch.device) -> dict[str, Any]:
    """Every random generator's state, in weights_only-loadable types."""
    out: dict[str, Any] = {"torch": torch.get_rng_state(), "shuffle": shuffle_state.clone()}
    out["cuda"] = (
        torch.cuda.get_rng_state_all()
        if device.type == "cuda" and torch.cuda.is_available()
        else None
    )
    version, state, gauss = random.getstate()
    out["python"] = {"version": version, "state": list(state), "gauss": gauss}
    try:
        import numpy as np

        kind, keys, pos, has_gauss, cached = np.random.get_state()
        out["numpy"] = {
            "kind": str(kind),
            "keys": torch.from_numpy(np.asarray(keys, dtype=np.int64).copy()),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached": float(cached),
        }
    except ImportError:  # NumPy is optional for the engine
        out["numpy"] = None
    return out


def restore_rng(rng: dict[str, Any], device: torch.device) -> torch.Tensor:
    """Put the global generators back as :func:`capture_rng` found them; returns the
    shuffling generator's state (the trainer owns that generator)."""
    torch.set_rng_state(rng["torch"])
    cuda = rng.get("cuda")
    on_cuda = device.type == "cuda" and torch.cuda.is_available()
    if cuda and on_cuda and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    py = rng.get("python")
    if py:
        random.setstate((py["version"], tuple(int(v) for v in py["state"]), py["gauss"]))
    np_state = rng.get("numpy")
    if np_state:
        try:
            import numpy as np

            np.random.set_state(
                (
                    np_state["kind"],
                    np_state["keys"].numpy().astype(np.uint32),
                    np_state["pos"],
                    np_state["has_gauss"],
                    np_state["cached"],
                )
            )
        except ImportError:
            pass
    return rng["shuffle"]


def _stat(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


@dataclass
class ResumePoint:
    """Where a resumed run starts, read from a checkpoint (:meth:`from_checkpoint`)."""

    step: int = 0
    epoch: int = 0
    epochs_done: int = 0
    epoch_step: int = 0
    steps_per_epoch: int = 0
    optimizer: dict[str, Any] | None = None
    rng: dict[str, Any] | None = None
    stats: dict[str, float | None] = field(default_factory=dict)
    epoch_loss_sum: float = 0.0
    epoch_loss_count: int = 0
    grad_scaler: dict[str, Any] | None = None

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any]) -> ResumePoint:
        """The resume point of a loaded checkpoint; ``ValueError`` says what it lacks."""
        if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
            raise ValueError("it holds no model state")
        if ckpt.get("format", 1) < CHECKPOINT_FORMAT or "rng" not in ckpt:
            raise ValueError(
                "it was written by an older dltui without the state needed to resume "
                "(random generators, position in the epoch)"
            )
        try:
            stats = ckpt.get("stats") or {}
            return cls(
                step=int(ckpt["step"]),
                epoch=int(ckpt["epoch"]),
                epochs_done=int(ckpt["epochs_done"]),
                epoch_step=int(ckpt["epoch_step"]),
                steps_per_epoch=int(ckpt["steps_per_epoch"]),
                optimizer=ckpt.get("optimizer"),
                rng=ckpt["rng"],
                stats={k: _stat(stats.get(k)) for k in STATS},
                epoch_loss_sum=float(stats.get("epoch_loss_sum") or 0.0),
                epoch_loss_count=int(stats.get("epoch_loss_count") or 0),
                grad_scaler=ckpt.get("grad_scaler"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"its position in the run is unreadable ({exc})") from None


def checkpoint_extra(
    *,
    epochs_done: int,
    epoch_step: int,
    steps_per_epoch: int,
    epochs: int,
    shuffle: torch.Tensor,
    device: torch.device,
    stats: dict[str, Any],
    loss_sum_count: tuple[float, int],
    grad_scaler: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The resume state a checkpoint holds besides model, optimizer, step and epoch
    (``grad_scaler``: fp16's GradScaler state, None otherwise)."""
    loss_sum, loss_count = loss_sum_count
    kept: dict[str, Any] = {k: _stat(stats.get(k)) for k in STATS}
    kept["epoch_loss_sum"] = float(loss_sum) if math.isfinite(loss_sum) else 0.0
    kept["epoch_loss_count"] = int(loss_count)
    return {
        "format": CHECKPOINT_FORMAT,
        "epochs_done": int(epochs_done),
        "epoch_step": int(epoch_step),
        "steps_per_epoch": int(steps_per_epoch),
        "epochs": int(epochs),
        # The schedule is a function of the step (tui.core.train.schedule): its level
        # (what +/- set) is all the state it has; the lr is in the optimizer's groups.
        "scheduler": {"lr_scale": float(stats.get("lr_scale") or 1.0)},
        "grad_scaler": grad_scaler,
        "rng": capture_rng(shuffle, device),
        "stats": kept,
    }
