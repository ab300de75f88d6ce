"""Data from the REPL: a variable holding a torch ``Dataset`` or an ``(X, y)`` pair.

A ``TensorDataset`` or a pair goes the tensor way (:func:`bundle_from_tensors`); any
other Dataset is kept as it is and read sample by sample, its shapes and class count
taken from the samples (all of them up to a limit, a seeded sample beyond it).
"""

from __future__ import annotations

from typing import Any

import torch
from torch.utils.data import Dataset, TensorDataset

from tui.core.text import shape_text
from tui.core.train.data.bundle import DataBundle, DataError, bundle_from_tensors, fetch_sample

__all__ = ["from_namespace"]


def from_namespace(name: str, obj: Any, source: str) -> DataBundle:
    if isinstance(obj, (tuple, list)) and len(obj) == 2:
        return bundle_from_tensors(obj[0], obj[1], None, f"{name} (X, y)", source)
    if isinstance(obj, Dataset) or (hasattr(obj, "__getitem__") and hasattr(obj, "__len__")):
        return _from_dataset(name, obj, source)
    raise DataError(
        f"{name} is a {type(obj).__name__}: give a torch Dataset or an (X, y) pair of "
        "tensors or arrays"
    )


# Read every label of a Dataset up to this size, a sample beyond it: __getitem__ may
# decode an image per call, and loading must stay quick.
_SCAN_LIMIT = 2_000


def _from_dataset(name: str, ds: Any, source: str) -> DataBundle:
    if isinstance(ds, TensorDataset) and len(ds.tensors) == 2:
        x, y = ds.tensors
        return bundle_from_tensors(x, y, None, f"{name} (TensorDataset)", source)
    n = len(ds)
    if n == 0:
        raise DataError(f"{name} is an empty Dataset")
    x0, y0 = fetch_sample(ds, 0)
    x0, y0 = torch.as_tensor(x0), torch.as_tensor(y0)
    integer_target = not (y0.dtype.is_floating_point or y0.dtype.is_complex)
    task = "classification" if integer_target and y0.ndim == 0 else "regression"
    num_classes = None
    exact = True
    if task == "classification":
        labels = getattr(ds, "targets", None)
        if labels is not None and len(labels) == n:
            num_classes = int(torch.as_tensor(labels).max()) + 1
        else:
            if n <= _SCAN_LIMIT:
                idx = range(n)
            else:
                # The class count from a sample, checked loosely by check_compatible.
                g = torch.Generator().manual_seed(0)
                idx = torch.randperm(n, generator=g)[:_SCAN_LIMIT].tolist()
                exact = False
            num_classes = max(int(torch.as_tensor(fetch_sample(ds, i)[1])) for i in idx) + 1
    summary = f"{n} samples, input {shape_text(x0.shape)}"
    summary += f", {num_classes} classes" if num_classes else f", target {shape_text(y0.shape)}"
    return DataBundle(
        train=ds,
        val=None,
        task=task,
        num_classes=num_classes,
        input_shape=tuple(x0.shape),
        target_shape=tuple(y0.shape),
        description=f"{name} ({type(ds).__name__}); {summary}",
        source=source,
        input_dtype=x0.dtype,
        target_dtype=torch.int64 if task == "classification" else y0.dtype,
        classes_exact=exact,
    )
