"""Class labels and token ids in range, checked before the first step.

On the CPU a class label at or above the model's output count, or a token id at or
above an Embedding's ``num_embeddings``, raises a plain IndexError. On CUDA it is a
device-side assert: it kills CUDA for the whole process (the REPL's tensors included)
and surfaces at a later read-back, with the wrong step. So the whole range is checked
before training, in plain words: once over tensor-backed data (a min and a max per
tensor, one read-back), and per batch on the host for data read sample by sample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

from tui.core.train.data.bundle import DataError

__all__ = ["Limits", "batch_checker", "check_dataset", "check_tensors", "limits_for"]

IGNORE_INDEX = -100
"""``CrossEntropyLoss``'s default ``ignore_index``: such a label is skipped, not wrong."""


@dataclass(frozen=True)
class Limits:
    """What the model accepts: labels below ``classes`` (cross-entropy only), token ids
    below ``ids`` (when the first layer is an Embedding, named ``embedding``)."""

    classes: int | None = None
    ids: int | None = None
    embedding: str = ""

    @property
    def empty(self) -> bool:
        return self.classes is None and self.ids is None


def _first_leaf(model: nn.Module) -> tuple[str, nn.Module] | None:
    for name, mod in model.named_modules():
        if not any(True for _ in mod.children()):
            return name, mod
    return None


def limits_for(model: nn.Module, loss: str, out_shape: torch.Size | None) -> Limits:
    """The ranges ``model`` accepts under ``loss``; ``out_shape`` is its output's shape
    on a sample batch (None when unknown: no label limit)."""
    classes = None
    if loss == "cross_entropy" and out_shape is not None and len(out_shape) == 2:
        classes = int(out_shape[1])
    ids, name = None, ""
    leaf = _first_leaf(model)
    if leaf is not None and isinstance(leaf[1], nn.Embedding):
        name, ids = leaf[0] or "0", int(leaf[1].num_embeddings)
    return Limits(classes, ids, name)


def _bounds(t: torch.Tensor) -> tuple[int, int]:
    # Both in one read-back (a device synchronisation on CUDA).
    lo, hi = torch.stack([t.min(), t.max()]).tolist()
    return int(lo), int(hi)


def check_tensors(x: torch.Tensor, y: torch.Tensor, limits: Limits, what: str) -> None:
    """Raise :class:`DataError` when a label or token id of ``x``/``y`` is out of range;
    ``what`` names the set ("training", "validation")."""
    if limits.classes is not None and y.numel() and not y.dtype.is_floating_point:
        k = limits.classes
        valid = y[y != IGNORE_INDEX]
        if valid.numel():
            lo, hi = _bounds(valid)
            if hi >= k or lo < 0:
                bad = int(((valid >= k) | (valid < 0)).sum())
                worst = hi if hi >= k else lo
                fix = (
                    f"set the last layer's output size to at least {hi + 1}"
                    if hi >= k
                    else "class labels count from 0"
                )
                raise DataError(
                    f"{bad} {what} sample{'s' if bad > 1 else ''} ha{'ve' if bad > 1 else 's'} "
                    f"a class label outside 0..{k - 1} (the model's {k} outputs), e.g. "
                    f"{worst}: {fix}, or fix the labels"
                )
    if limits.ids is not None and x.numel() and not x.dtype.is_floating_point:
        n = limits.ids
        lo, hi = _bounds(x)
        if hi >= n or lo < 0:
            fix = (
                f"set its num_embeddings to at least {hi + 1}"
                if hi >= n
                else "token ids count from 0"
            )
            raise DataError(
                f"the {what} data holds token id {hi if hi >= n else lo} but Embedding layer "
                f"{limits.embedding} has {n} entries (ids 0..{n - 1}): {fix}"
            )


def batch_checker(limits: Limits, what: str) -> Callable[[torch.Tensor, torch.Tensor], None]:
    """:func:`check_tensors` for one batch at a time (data read sample by sample)."""

    def check(x: torch.Tensor, y: torch.Tensor) -> None:
        check_tensors(x, y, limits, what)

    return check


def _backing(ds: Dataset | None) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The tensors behind a TensorDataset or Subsets of one (whole: a Subset's labels are
    among them, and no gather is needed), else None."""
    while isinstance(ds, Subset):
        ds = ds.dataset
    if isinstance(ds, TensorDataset) and len(ds.tensors) == 2:
        return ds.tensors[0], ds.tensors[1]
    return None


def check_dataset(ds: Dataset | None, limits: Limits, what: str) -> bool:
    """Check a tensor-backed dataset whole; False when it is not one (check its batches
    with :func:`batch_checker` instead)."""
    tensors = _backing(ds)
    if tensors is None:
        return False
    if not limits.empty:
        check_tensors(tensors[0], tensors[1], limits, what)
    return True
