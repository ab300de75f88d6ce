"""Does a model fit the data? One small batch through it, before anything is written.

:func:`check_compatible` runs up to 4 training samples through the model and turns
shape and dtype mismatches into plain words naming the layer or the size to change
("the model expects 784 input features but samples have shape (1, 28, 28): add a
Flatten layer before the first Linear"), raised as :class:`DataError`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from tui.core.text import first_line, shape_text
from tui.core.train.batches import training_dtypes
from tui.core.train.config import LOSSES, make_loss
from tui.core.train.data.bundle import DataBundle, DataError, fetch_sample
from tui.core.train.ranges import Limits, check_dataset, limits_for

__all__ = ["check_compatible"]


def _last_linear(model: nn.Module) -> str | None:
    last = None
    for name, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            last = name
    return last


def _out_hint(model: nn.Module, size: int) -> str:
    name = _last_linear(model)
    if name is None:
        return f"make the last layer output {size} values per sample"
    return f"set the last Linear's out_features to {size} (layer {name})"


def check_compatible(
    model: nn.Module, bundle: DataBundle, loss_name: str, device: str | torch.device = "cpu"
) -> Limits:
    """Run one small batch through ``model`` and check its output against the targets.

    The batch (up to 4 training samples) goes through the model on ``device`` (the model
    is moved there if it is not) in eval mode and without gradients, so BatchNorm
    statistics and the weights are left as they were.

    Tensor-backed data is then checked whole for class labels and token ids out of the
    model's range (:mod:`~tui.core.train.ranges`); the :class:`Limits` returned are for
    checking the batches of any other Dataset as they are read.

    Raises:
        DataError: the inputs do not fit the first layers, the output does not fit
            the targets under ``loss_name``, or a label or id is out of range; the
            message names the layer or the size to change.
    """
    if loss_name not in LOSSES:
        raise DataError(f"unknown loss {loss_name!r}: use one of {', '.join(LOSSES)}")
    n = min(4, len(bundle.train))  # type: ignore[arg-type]
    if n == 0:
        raise DataError("the training set is empty")
    samples = [fetch_sample(bundle.train, i) for i in range(n)]
    try:
        x = torch.stack([torch.as_tensor(s[0]) for s in samples])
        y = torch.stack([torch.as_tensor(s[1]) for s in samples])
    except RuntimeError as exc:
        raise DataError(f"samples cannot be batched (do they differ in shape?): {exc}") from None
    device = torch.device(device)
    model.to(device)
    # The same dtypes as the training batches (float64 samples become float32).
    x, y = training_dtypes(x, y)
    x, y = x.to(device), y.to(device)
    out = _forward_explained(model, x)
    if not isinstance(out, torch.Tensor):
        raise DataError(
            f"the model returns a {type(out).__name__}, not a tensor: end it with a layer "
            "that outputs one tensor"
        )
    _check_output(model, bundle, loss_name, out, y)
    loss_fn = make_loss(loss_name)
    try:
        with torch.no_grad():
            loss = loss_fn(out, y)
    except Exception as exc:
        raise DataError(
            f"{loss_name} cannot compare the model output {shape_text(out.shape, batch=True)} "
            f"{_dtype(out)} with targets {shape_text(y.shape, batch=True)} {_dtype(y)}: "
            f"{first_line(exc)}"
        ) from None
    if loss.numel() != 1:
        raise DataError(f"{loss_name} gave {loss.numel()} values instead of one")
    limits = limits_for(model, loss_name, out.shape)
    check_dataset(bundle.train, limits, "training")
    check_dataset(bundle.val, limits, "validation")
    return limits


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def _forward_explained(model: nn.Module, x: torch.Tensor) -> Any:
    """``model(x)`` in eval mode; an error names the layer that raised and its input."""
    entered: list[tuple[str, nn.Module, tuple[Any, ...]]] = []

    def hook(name: str) -> Callable:
        def pre(mod: nn.Module, args: tuple[Any, ...]) -> None:
            entered.append((name, mod, args))

        return pre

    handles = [
        m.register_forward_pre_hook(hook(name))
        for name, m in model.named_modules()
        if not list(m.children())
    ]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            return model(x)
    except Exception as exc:
        raise DataError(_explain_forward(exc, entered, x)) from None
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()


def _explain_forward(
    exc: Exception, entered: list[tuple[str, nn.Module, tuple[Any, ...]]], x: torch.Tensor
) -> str:
    sample = shape_text(x.shape[1:])
    if not entered:
        return f"the model fails on a batch of samples of shape {sample}: {first_line(exc)}"
    name, mod, args = entered[-1]
    first = len(entered) == 1
    inp = args[0] if args and isinstance(args[0], torch.Tensor) else None
    kind = type(mod).__name__
    where = f"layer {name} ({kind})"
    if inp is None:
        return f"{where} fails: {first_line(exc)}"
    got = shape_text(inp.shape, batch=True)
    if (
        isinstance(mod, nn.Linear)
        and inp.dtype.is_floating_point
        and inp.shape[-1] != mod.in_features
    ):
        if first:
            msg = (
                f"the model expects {mod.in_features} input features but samples have "
                f"shape {sample}"
            )
            if x.ndim > 2 and math.prod(x.shape[1:]) == mod.in_features:
                return msg + ": add a Flatten layer before the first Linear"
            if x.ndim > 2:
                return (
                    msg + f": add a Flatten layer and set in_features to {math.prod(x.shape[1:])}"
                )
            return msg + f": set the first Linear's in_features to {inp.shape[-1]}"
        return (
            f"{where} expects {mod.in_features} features but receives {got}: set its "
            f'in_features to {inp.shape[-1]} (or "auto")'
        )
    if isinstance(mod, nn.Embedding) and inp.dtype.is_floating_point:
        return (
            f"{where} needs integer token ids but receives {_dtype(inp)} values: load integer "
            "data, or start with a layer that takes float inputs"
        )
    if not inp.dtype.is_floating_point and isinstance(
        mod, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
    ):
        return (
            f"{where} needs float inputs but receives {_dtype(inp)} {got}: start with an "
            "Embedding for token ids, or give the data as floats"
        )
    if isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        want = mod.in_channels
        if inp.ndim >= 2 and inp.shape[1] != want:
            return (
                f"{where} expects {want} input channels but receives {got}: set its "
                f"in_channels to {inp.shape[1]}"
                + (" (samples are channels-first: (C, H, W))" if first else "")
            )
    return f"{where} fails on input {got} {_dtype(inp)}: {first_line(exc)}"


def _check_output(
    model: nn.Module, bundle: DataBundle, loss_name: str, out: torch.Tensor, y: torch.Tensor
) -> None:
    got = shape_text(out.shape, batch=True)
    if not out.dtype.is_floating_point:
        raise DataError(f"the model outputs {_dtype(out)} values; a loss needs floats")
    is_labels = not y.dtype.is_floating_point
    if loss_name == "cross_entropy":
        if not is_labels:
            if out.shape == y.shape and out.ndim == 2 and out.shape[1] >= 2:
                return  # class probabilities as targets
            raise DataError(
                f"cross_entropy needs class labels but the targets are {_dtype(y)} values of "
                f"shape {shape_text(y.shape, batch=True)} (regression data): use --loss mse or l1"
            )
        if out.ndim != 2:
            raise DataError(
                f"cross_entropy needs the model to output (B, classes) but it outputs {got}"
                + (": add a Flatten layer" if out.ndim > 2 else "")
            )
        k = bundle.num_classes or 0
        c = out.shape[1]
        if c < k or (c != k and bundle.classes_exact):
            raise DataError(
                f"the model outputs {got} but the data has {k} classes: {_out_hint(model, k)}"
            )
        return
    if loss_name == "bce_with_logits" and is_labels:
        k = bundle.num_classes or 0
        if k > 2:
            raise DataError(
                f"bce_with_logits is for two classes but the data has {k}: use --loss cross_entropy"
            )
        if out.shape[1:] not in ((), (1,)):
            raise DataError(
                f"bce_with_logits on 2-class labels needs one output per sample but the model "
                f"outputs {got}: {_out_hint(model, 1)}, or use --loss cross_entropy"
            )
        return
    if is_labels:
        k = bundle.num_classes
        raise DataError(
            f"{loss_name} compares outputs with float targets but the data has class labels "
            f"({k} classes): use --loss cross_entropy"
        )
    if out.shape[1:] != y.shape[1:]:
        want = y.shape[1:]
        hint = _out_hint(model, want[0]) if len(want) == 1 else "change the last layer"
        raise DataError(
            f"the model outputs {got} but the targets have shape "
            f"{shape_text(y.shape, batch=True)}: {hint}"
        )
