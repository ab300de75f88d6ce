"""The post-mortem of a run whose loss (or gradient) stopped being finite.

When a step's loss is NaN or infinite, the trainer replays that step's batch through the
model with a forward hook on every layer (:func:`diagnose`) and finds where the first
non-finite value appeared: in the inputs, in one layer's output (its inputs finite), in
the loss alone (outputs finite, targets or the loss to blame), in one parameter's
gradient, or already in the weights. :class:`NanReport` holds that, with the learning
rate and the gradient norm of the steps before, in plain words (:meth:`NanReport.text`)
and as JSON for ``status.json`` and ``nan_report.json`` (:meth:`NanReport.to_dict`).

In the TUI the run pauses and the REPL gets ``model``, ``batch``, ``loss`` and
``nan_report``; headless, the report is written and the run fails.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

__all__ = ["NAN_REPORT", "NanReport", "PostMortem", "diagnose", "grad_norm", "grads_finite"]

NAN_REPORT = "nan_report.json"  # in the run's folder, written when a run fails on NaN

HISTORY = 20  # steps of lr and gradient norm kept for the report


def grad_norm(params: list[torch.Tensor]) -> torch.Tensor | None:
    """The total L2 norm of the gradients, as a device tensor (no synchronisation)."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return None
    norms = torch._foreach_norm(grads)
    return torch.linalg.vector_norm(torch.stack([n.float() for n in norms]))


def grads_finite(params: list[torch.Tensor], norm: torch.Tensor | None = None) -> bool:
    """Whether every gradient is finite (one read-back).

    ``norm``, their total norm when the caller has it, decides most steps at no cost: a
    NaN or Inf anywhere makes it non-finite, so a finite norm means finite gradients.
    Only a non-finite norm is looked into gradient by gradient, since huge but finite
    gradients overflow a float32 norm too. (The look at every gradient was a fifth of a
    step of a 784-512-512-10 MLP on one CPU thread.)"""
    if norm is not None and bool(torch.isfinite(norm)):
        return True
    checks = [torch.isfinite(p.grad).all() for p in params if p.grad is not None]
    return not checks or bool(torch.stack(checks).all())


def _finite(t: Any) -> bool:
    if isinstance(t, torch.Tensor):
        return not (t.is_floating_point() or t.is_complex()) or bool(torch.isfinite(t).all())
    if isinstance(t, (tuple, list)):
        return all(_finite(v) for v in t)
    return True


def _bad_kind(t: torch.Tensor) -> str:
    return "NaN" if bool(torch.isnan(t).any()) else "Inf"


@dataclass
class NanReport:
    """Where a run first went non-finite, and what led up to it."""

    step: int  # the step whose loss was not finite (1-based, as in metrics.jsonl)
    epoch: int
    loss: float
    where: str  # one sentence: where the first non-finite value was found
    fix: str  # one sentence: what to try
    layer: str | None = None  # the layer whose output went first (its name in the model)
    parameter: str | None = None  # the parameter whose gradient (or value) went first
    lr: float | None = None
    lr_history: list[tuple[int, float]] = field(default_factory=list)
    grad_norms: list[tuple[int, float]] = field(default_factory=list)
    late_by: int = 0  # steps taken after the bad one before it was seen (read-back)

    def text(self) -> str:
        lines = [
            f"non-finite loss ({number(self.loss)}) at step {self.step}, epoch {self.epoch}",
            f"where: {self.where}",
            f"try: {self.fix}",
        ]
        if self.late_by:
            lines.append(
                f"note: seen {self.late_by} steps later (losses are read back in batches "
                "on a GPU; --detect-anomaly checks every step): the weights moved since"
            )
        if self.lr is not None:
            lines.append(f"lr: {self.lr:.3g}")
        if self.grad_norms:
            shown = ", ".join(f"{s}: {v:.4g}" for s, v in self.grad_norms[-8:])
            lines.append(f"gradient norm of the steps before: {shown}")
        return "\n".join(lines)

    def __repr__(self) -> str:  # the REPL prints the report itself
        return self.text()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["loss"] = number(self.loss)  # JSON has no NaN
        out["lr_history"] = [[s, v] for s, v in self.lr_history]
        out["grad_norms"] = [[s, number(v)] for s, v in self.grad_norms]
        out["text"] = self.text()
        return out


@dataclass
class PostMortem:
    """What the REPL gets when a run pauses on a non-finite value."""

    model: nn.Module
    batch: tuple[torch.Tensor, torch.Tensor] | None
    loss: torch.Tensor
    report: NanReport

    def names(self) -> dict[str, Any]:
        """The REPL variables: model, batch, loss, nan_report."""
        return {"model": self.model, "batch": self.batch, "loss": self.loss,
                "nan_report": self.report}  # fmt: skip


def number(v: float) -> Any:
    """A float JSON can hold, or its name (``"nan"``, ``"inf"``)."""
    if isinstance(v, float) and not math.isfinite(v):
        return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def diagnose(
    model: nn.Module,
    x: torch.Tensor | None,
    y: torch.Tensor | None,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    autocast: Callable[[], Any],
) -> tuple[str, str, str | None, str | None]:
    """Replay one batch: ``(where, fix, layer, parameter)`` of the first non-finite value.

    The model's gradients are left as the replay made them; its weights are not changed.
    """
    bad_params = [n for n, p in model.named_parameters() if not _finite(p.detach())]
    if bad_params:
        return (
            f"the weights already hold non-finite values ({', '.join(bad_params[:3])}"
            f"{'…' if len(bad_params) > 3 else ''}): an update with a huge or NaN gradient",
            "lower the learning rate, set gradient clipping (--grad-clip 1), then reload "
            "the last checkpoint",
            None,
            bad_params[0],
        )
    if x is None or y is None:
        return (
            "the batch of that step could not be replayed (it was in an earlier epoch)",
            "check the data for NaN/Inf, lower the learning rate or set gradient clipping",
            None,
            None,
        )
    if not _finite(x):
        rows = (~torch.isfinite(x.reshape(x.shape[0], -1))).any(dim=1).nonzero()
        first = int(rows[0]) if rows.numel() else 0
        return (
            f"the inputs hold {_bad_kind(x)} (row {first} of the batch)",
            "clean the data (batch[0] holds the inputs), e.g. torch.nan_to_num",
            None,
            None,
        )
    first: list[tuple[str, nn.Module]] = []

    def hook(name: str) -> Callable[..., None]:
        def check(mod: nn.Module, args: tuple[Any, ...], out: Any) -> None:
            if not first and not _finite(out) and _finite(args):
                first.append((name, mod))

        return check

    handles = [
        m.register_forward_hook(hook(name))
        for name, m in model.named_modules()
        if not any(True for _ in m.children())
    ]
    # The replay must not move BatchNorm's running statistics: put them back after.
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    try:
        model.zero_grad(set_to_none=True)
        with torch.enable_grad(), autocast():
            out = model(x)
            loss = loss_fn(out, y)
    finally:
        for h in handles:
            h.remove()
        with torch.no_grad():
            for b, saved in buffers:
                b.copy_(saved)
    if first:
        name, mod = first[0]
        return (
            f"layer {name} ({type(mod).__name__}) is the first whose output is not finite; "
            "its inputs are finite",
            f"look at model{_attr_path(name)} (its weights, or values it cannot take: log of "
            "0, a division by 0, an overflow in float16); lower the learning rate",
            name,
            None,
        )
    if not _finite(loss):
        return (
            "the model's outputs are finite but the loss is not",
            "check the targets (batch[1]) and that the loss fits them (e.g. bce_with_logits "
            "on raw outputs, not probabilities)",
            None,
            None,
        )
    loss.backward()
    for pname, p in model.named_parameters():
        if p.grad is not None and not _finite(p.grad):
            return (
                f"the forward pass is finite on replay, but the gradient of {pname} is not",
                "set gradient clipping (--grad-clip 1) or lower the learning rate",
                None,
                pname,
            )
    return (
        f"replaying the batch gives a finite loss ({float(loss.detach()):.4g}): the run's "
        "state at "
        "that step (dropout, the weights then) made it diverge",
        "lower the learning rate or set gradient clipping (--grad-clip 1)",
        None,
        None,
    )


def _attr_path(name: str) -> str:
    """A module's name as the expression after ``model``: ``0.conv`` -> ``[0].conv``."""
    return "".join(f"[{part}]" if part.isdigit() else f".{part}" for part in name.split("."))
