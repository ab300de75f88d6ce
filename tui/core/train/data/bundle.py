"""What every data source turns into: a :class:`DataBundle`, and the errors loading raises.

Each loader (synthetic sets, CSV, NumPy arrays, IDX files, REPL objects) ends in
:func:`bundle_from_tensors` or builds a bundle from a Dataset, so inputs and targets are
prepared one way: float32 inputs (int64 kept for token ids), int64 class labels, float32
regression targets of shape (N, k). Options after a colon (``name=value,...``) are
parsed here too.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, Subset, TensorDataset

from tui.core.text import shape_text

__all__ = [
    "DataBundle",
    "DataError",
    "SampleError",
    "bundle_from_tensors",
    "check_file_options",
    "fetch_sample",
    "parse_options",
    "task_option",
]


MAX_CLASSES = 1_000_000


class DataError(ValueError):
    """A data source that cannot be used, with a one-line message in plain words.

    The message is folded onto one line and bounded: it may quote a file's content, and
    the command line promises one line on stderr whatever the file holds.
    """

    def __init__(self, message: str) -> None:
        text = " ".join(str(message).split())
        super().__init__(text if len(text) <= 400 else text[:399] + "…")


class SampleError(DataError):
    """A user Dataset raised while a sample was read; names the index and the error."""

    def __init__(self, index: int, exc: BaseException) -> None:
        self.index = index
        self.original = exc
        detail = str(exc) or type(exc).__name__
        super().__init__(
            f"the dataset raised {type(exc).__name__} when reading sample {index}: {detail}"
        )


@dataclass
class DataBundle:
    """A training set, an optional validation set, and what a model needs to know of them.

    ``input_shape`` and ``target_shape`` leave out the batch dimension; a class label has
    ``target_shape == ()``. ``num_classes`` is set for classification, else None; when it
    had to be estimated from a sample of a large Dataset, ``classes_exact`` is False.
    ``source`` is the string it was loaded from (to write into a run's config).
    """

    train: Dataset
    val: Dataset | None
    task: str  # "classification" | "regression"
    num_classes: int | None
    input_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    description: str
    source: str = ""
    input_dtype: torch.dtype = torch.float32
    target_dtype: torch.dtype = torch.float32
    classes_exact: bool = True
    class_names: list[str] | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.train)  # type: ignore[arg-type]

    def split(self, val_fraction: float, seed: int = 0) -> DataBundle:
        """Hold out ``val_fraction`` of the training set as validation, at random (seeded).

        A bundle that already has a validation set (MNIST's t10k files) is returned
        unchanged; so is one split with ``val_fraction == 0``.
        """
        if not (isinstance(val_fraction, (int, float)) and 0.0 <= val_fraction < 1.0):
            raise DataError(
                f"the validation fraction must be at least 0 and below 1, not {val_fraction!r}"
            )
        if self.val is not None or val_fraction == 0:
            return self
        n = len(self.train)  # type: ignore[arg-type]
        n_val = round(n * val_fraction)
        n_val = min(max(n_val, 1), n - 1)
        if n < 2:
            raise DataError(f"{n} sample cannot be split into training and validation sets")
        g = torch.Generator().manual_seed(int(seed))
        perm = torch.randperm(n, generator=g).tolist()
        return replace(
            self,
            train=Subset(self.train, perm[n_val:]),
            val=Subset(self.train, perm[:n_val]),
            description=f"{self.description}; {n - n_val} train / {n_val} val",
        )


def fetch_sample(dataset: Any, index: int) -> tuple[Any, Any]:
    """``dataset[index]`` as an ``(input, target)`` pair; a failure names the index."""
    try:
        item = dataset[index]
    except Exception as exc:
        raise SampleError(index, exc) from exc
    if not (isinstance(item, (tuple, list)) and len(item) >= 2):
        raise DataError(
            f"sample {index} of the dataset is a {type(item).__name__}: each sample must be "
            "an (input, target) pair"
        )
    return item[0], item[1]


# ---------------------------------------------------------------------------------------
# tensors -> bundle


def _as_tensor(a: Any, what: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        # Left where it is: REPL data already on the GPU is not copied to the host and
        # back (the batches move it to the training device when that differs).
        return a.detach()
    try:
        arr = np.asarray(a)
    except Exception as exc:
        raise DataError(f"{what} cannot be turned into an array: {exc}") from None
    if arr.dtype == object:
        raise DataError(f"{what} holds Python objects, not numbers: give it a numeric dtype")
    if arr.dtype.kind in "US":
        raise DataError(f"{what} holds text, not numbers")
    if arr.dtype.kind not in "biuf":
        raise DataError(f"{what} holds {arr.dtype} values, not plain numbers")
    # torch takes native byte order only (IDX and .npy files may be big-endian), no
    # unsigned types wider than a byte on every version, and no long double.
    if arr.dtype.kind == "u" and arr.dtype.itemsize > 1:
        target = np.dtype(np.int64)
    elif arr.dtype.kind == "f" and arr.dtype.itemsize > 8:
        target = np.dtype(np.float64)
    else:
        target = arr.dtype.newbyteorder("=")
    return torch.from_numpy(np.ascontiguousarray(arr, dtype=target))


def _check_finite(t: torch.Tensor, what: str) -> None:
    """Refuse NaN and Inf (also values that overflowed float32): training on them fails
    at the first step, after a run directory was created."""
    if not t.dtype.is_floating_point or t.numel() == 0:
        return
    bad = ~torch.isfinite(t)
    if not bool(bad.any()):
        return
    index = tuple(int(i) for i in bad.nonzero()[0])
    where = f"sample {index[0]}" + (f", position {list(index[1:])}" if len(index) > 1 else "")
    raise DataError(
        f"{what} hold {float(t[index])} at {where} ({int(bad.sum())} such values): "
        "dltui trains on finite numbers within float32's range (about ±3.4e38)"
    )


def _prepare_inputs(x: torch.Tensor) -> torch.Tensor:
    # Keep 64/32-bit integers (token ids for an Embedding); everything else becomes float32,
    # which is what a Linear or Conv layer expects.
    if x.dtype in (torch.int64, torch.int32):
        return x.to(torch.int64)
    return x.to(torch.float32)


def _guess_task(y: torch.Tensor, from_text: bool) -> str:
    """Classification for integer targets; for text files (CSV, a float .npy), also for
    targets that are all whole numbers >= 0 with at most 100 distinct values, some
    repeated."""
    if y.dtype == torch.bool or not (y.dtype.is_floating_point or y.dtype.is_complex):
        return "classification"
    if from_text and y.ndim == 1 and y.numel() > 0:
        yn = y.to(torch.float64)
        if torch.isfinite(yn).all() and torch.equal(yn, yn.round()) and yn.min() >= 0:
            # Labels repeat; measurements rarely do. ``task=regression`` overrides.
            distinct = torch.unique(yn).numel()
            if distinct <= 100 and distinct < y.numel():
                return "classification"
    return "regression"


def bundle_from_tensors(
    x: Any,
    y: Any,
    task: str | None,
    description: str,
    source: str,
    *,
    from_text: bool = False,
    val: tuple[Any, Any] | None = None,
    class_names: list[str] | None = None,
) -> DataBundle:
    xt = _as_tensor(x, "the inputs (X)")
    yt = _as_tensor(y, "the targets (y)")
    if xt.ndim == 0 or yt.ndim == 0:
        raise DataError("X and y must hold one row per sample (they are scalars)")
    if xt.shape[0] != yt.shape[0]:
        raise DataError(
            f"X has {xt.shape[0]} samples but y has {yt.shape[0]}: they must match row for row"
        )
    if xt.shape[0] == 0:
        raise DataError(f"{source or 'the data'} holds no samples")
    if xt.ndim == 1:
        xt = xt.unsqueeze(1)  # one feature per sample
    _check_finite(yt, "the targets (y)")
    task = task or _guess_task(yt, from_text)
    xt = _prepare_inputs(xt)
    _check_finite(xt, "the inputs (X)")
    yt, num_classes = _prepare_targets(yt, task)
    _check_finite(yt, "the targets (y)")
    train = TensorDataset(xt, yt)
    val_ds = None
    if val is not None:
        vx = _prepare_inputs(_as_tensor(val[0], "the validation inputs"))
        if vx.ndim == 1:
            vx = vx.unsqueeze(1)
        _check_finite(vx, "the validation inputs")
        vy = _as_tensor(val[1], "the validation targets")
        _check_finite(vy, "the validation targets")
        vy, vclasses = _prepare_targets(vy, task)
        _check_finite(vy, "the validation targets")
        if vx.shape[1:] != xt.shape[1:] or vx.shape[0] != vy.shape[0]:
            raise DataError(
                f"validation samples have shape {shape_text(vx.shape[1:])} but training samples "
                f"have {shape_text(xt.shape[1:])}"
            )
        if num_classes is not None and vclasses is not None:
            num_classes = max(num_classes, vclasses)
        val_ds = TensorDataset(vx, vy)
    n = xt.shape[0]
    summary = f"{n} samples, input {shape_text(xt.shape[1:])}"
    if num_classes is not None:
        summary += f", {num_classes} classes"
    else:
        summary += f", target {shape_text(yt.shape[1:])}"
    return DataBundle(
        train=train,
        val=val_ds,
        task=task,
        num_classes=num_classes,
        input_shape=tuple(xt.shape[1:]),
        target_shape=tuple(yt.shape[1:]),
        description=f"{description}; {summary}",
        source=source,
        input_dtype=xt.dtype,
        target_dtype=yt.dtype,
        class_names=class_names,
    )


def _prepare_targets(y: torch.Tensor, task: str) -> tuple[torch.Tensor, int | None]:
    if task == "classification":
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise DataError(
                f"class labels must be one number per sample, but y has shape {shape_text(y.shape)}"
            )
        if y.dtype.is_floating_point and not torch.equal(y, y.round()):
            raise DataError("class labels must be whole numbers (y holds fractions)")
        y = y.to(torch.int64)
        if y.numel() and y.min() < 0:
            raise DataError(f"class labels must be 0 or more (y holds {int(y.min())})")
        if y.numel() and y.max() >= MAX_CLASSES:
            # The model would need an output per class: 10**12 labels mean a wrong column.
            raise DataError(
                f"class labels go up to {int(y.max())}: dltui trains at most {MAX_CLASSES:,} "
                "classes (is the target column right? task=regression for measurements)"
            )
        return y, int(y.max()) + 1 if y.numel() else 0
    if task != "regression":
        raise DataError(f"task must be classification or regression, not {task!r}")
    y = y.to(torch.float32)
    if y.ndim == 1:
        y = y.unsqueeze(1)  # (N,) -> (N, 1): what a model ending in Linear(..., 1) outputs
    return y, None


# ---------------------------------------------------------------------------------------
# options after a colon


def parse_options(text: str, what: str) -> dict[str, str]:
    opts: dict[str, str] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise DataError(f"option {part!r} for {what} must look like name=value")
        opts[key.strip()] = value.strip()
    return opts


def task_option(opts: dict[str, str]) -> str | None:
    task = opts.get("task")
    if task is not None and task not in ("classification", "regression"):
        raise DataError(f"task={task} must be classification or regression")
    return task


def check_file_options(opts: dict[str, str], valid: set[str], what: str) -> None:
    for key in opts:
        if key not in valid:
            names = ", ".join(sorted(valid)) or "none"
            raise DataError(f"unknown option {key!r} for {what}: valid options are {names}")
