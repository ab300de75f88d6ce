"""Datasets for training: built-in synthetic sets, files, and objects from the REPL.

Nothing is ever downloaded. ``load_data(source)`` understands:

- a built-in synthetic set, generated locally from a seeded ``torch.Generator``:
  ``spirals``, ``moons``, ``circles``, ``xor`` (classification, 2-D points) and ``sine``,
  ``linear`` (regression), with options after a colon: ``spirals:n=2000,noise=0.2,seed=1``;
- a ``.csv`` file (the last column is the target unless ``:target=NAME_or_INDEX``),
  a ``.npz`` (arrays ``X``/``y``, ``x``/``y``, or the first two), a ``.npy`` (one array
  whose last column is the target, or a saved ``(X, y)`` pair);
- a folder, or a file-name prefix, of MNIST / FashionMNIST IDX files
  (``train-images-idx3-ubyte[.gz]`` ...; ``t10k-*`` become the validation set);
- with a ``namespace`` (the REPL's variables): the name of a torch ``Dataset`` or of an
  ``(X, y)`` pair of tensors or arrays. A variable shadows a built-in name of the same
  spelling, as in Python.

Every problem is a :class:`DataError` whose message says what is wrong and how to fix
it. :func:`check_compatible` runs one small batch through a model before training and
turns shape and dtype mismatches into the same kind of plain message.
"""

from __future__ import annotations

import csv
import gzip
import math
import os
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset

__all__ = [
    "SYNTHETIC",
    "DataBundle",
    "DataError",
    "SampleError",
    "check_compatible",
    "fetch_sample",
    "load_data",
]


class DataError(ValueError):
    """A data source that cannot be used, with a one-line message in plain words."""


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


# ---------------------------------------------------------------------------------------
# synthetic sets


@dataclass(frozen=True)
class _Synthetic:
    make: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    task: str
    options: dict[str, Any]  # name -> default; the type of the default is the option's type
    help: str


def _spirals(n: int, noise: float, seed: int, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for k in range(classes):
        m = n // classes + (1 if k < n % classes else 0)
        t = torch.rand(m, generator=g)
        r = 0.05 + 0.95 * t
        # 1.5 turns per arm: hard enough to need a hidden layer, easy enough for ~30 epochs.
        theta = 2 * math.pi * k / classes + 3 * math.pi * t
        pts = torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)
        xs.append(pts + noise * torch.randn(m, 2, generator=g))
        ys.append(torch.full((m,), k, dtype=torch.int64))
    return _shuffle(torch.cat(xs), torch.cat(ys), g)


def _moons(n: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    m_out = n // 2
    m_in = n - m_out
    t_out = torch.rand(m_out, generator=g) * math.pi
    t_in = torch.rand(m_in, generator=g) * math.pi
    outer = torch.stack([torch.cos(t_out), torch.sin(t_out)], dim=1)
    inner = torch.stack([1 - torch.cos(t_in), 0.5 - torch.sin(t_in)], dim=1)
    x = torch.cat([outer, inner]) + noise * torch.randn(n, 2, generator=g)
    y = torch.cat([torch.zeros(m_out, dtype=torch.int64), torch.ones(m_in, dtype=torch.int64)])
    return _shuffle(x, y, g)


def _circles(n: int, noise: float, seed: int, factor: float) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    m_out = n // 2
    m_in = n - m_out
    t = torch.rand(n, generator=g) * 2 * math.pi
    r = torch.cat([torch.ones(m_out), torch.full((m_in,), factor)])
    x = torch.stack([r * torch.cos(t), r * torch.sin(t)], dim=1)
    x = x + noise * torch.randn(n, 2, generator=g)
    y = torch.cat([torch.zeros(m_out, dtype=torch.int64), torch.ones(m_in, dtype=torch.int64)])
    return _shuffle(x, y, g)


def _xor(n: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=g) * 2 - 1
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).to(torch.int64)
    return x + noise * torch.randn(n, 2, generator=g), y


def _sine(n: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 1, generator=g) * 2 - 1) * math.pi
    return x, torch.sin(x) + noise * torch.randn(n, 1, generator=g)


def _linear(n: int, noise: float, seed: int, features: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    w = torch.randn(features, 1, generator=g)
    b = torch.randn(1, generator=g)
    return x, x @ w + b + noise * torch.randn(n, 1, generator=g)


def _shuffle(
    x: torch.Tensor, y: torch.Tensor, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    # Classes are generated one after another; mix them so any prefix is representative.
    perm = torch.randperm(x.shape[0], generator=g)
    return x[perm], y[perm]


SYNTHETIC: dict[str, _Synthetic] = {
    "spirals": _Synthetic(
        _spirals,
        "classification",
        {"n": 1000, "noise": 0.05, "seed": 0, "classes": 2},
        "interleaved spiral arms, one class per arm",
    ),
    "moons": _Synthetic(
        _moons,
        "classification",
        {"n": 1000, "noise": 0.1, "seed": 0},
        "two interleaved half circles",
    ),
    "circles": _Synthetic(
        _circles,
        "classification",
        {"n": 1000, "noise": 0.05, "seed": 0, "factor": 0.5},
        "a circle inside another",
    ),
    "xor": _Synthetic(
        _xor, "classification", {"n": 1000, "noise": 0.0, "seed": 0}, "quadrants of the XOR"
    ),
    "sine": _Synthetic(_sine, "regression", {"n": 1000, "noise": 0.05, "seed": 0}, "y = sin(x)"),
    "linear": _Synthetic(
        _linear,
        "regression",
        {"n": 1000, "noise": 0.1, "seed": 0, "features": 1},
        "y = x @ w + b",
    ),
}
"""The built-in synthetic sets: name -> generator, task, options with their defaults."""


def _parse_options(text: str, what: str) -> dict[str, str]:
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


def _convert_options(name: str, given: dict[str, str], defaults: dict[str, Any]) -> dict[str, Any]:
    valid = ", ".join(defaults)
    out = dict(defaults)
    for key, raw in given.items():
        if key not in defaults:
            raise DataError(f"unknown option {key!r} for {name}: valid options are {valid}")
        kind = type(defaults[key])
        try:
            value = kind(raw) if kind is not int else int(raw, 10)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            raise DataError(f"option {key}={raw} for {name} must be {noun}") from None
        out[key] = value
    return out


def _load_synthetic(name: str, option_text: str, source: str) -> DataBundle:
    spec = SYNTHETIC[name]
    opts = _convert_options(name, _parse_options(option_text, name), spec.options)
    if opts["n"] < 2:
        raise DataError(f"option n={opts['n']} for {name} must be at least 2")
    if not (math.isfinite(opts["noise"]) and opts["noise"] >= 0):
        raise DataError(f"option noise={opts['noise']} for {name} must be 0 or more")
    if "classes" in opts and not 2 <= opts["classes"] <= opts["n"]:
        raise DataError(f"option classes={opts['classes']} for {name} must be between 2 and n")
    if "features" in opts and opts["features"] < 1:
        raise DataError(f"option features={opts['features']} for {name} must be at least 1")
    x, y = spec.make(**opts)
    shown = ",".join(f"{k}={v}" for k, v in opts.items())
    desc = f"{name} ({shown}): {spec.help}"
    return _bundle_from_tensors(x, y, spec.task, desc, source)


# ---------------------------------------------------------------------------------------
# tensors -> bundle


def _as_tensor(a: Any, what: str) -> torch.Tensor:
    if isinstance(a, torch.Tensor):
        return a.detach().cpu()
    try:
        arr = np.asarray(a)
    except Exception as exc:
        raise DataError(f"{what} cannot be turned into an array: {exc}") from None
    if arr.dtype == object:
        raise DataError(f"{what} holds Python objects, not numbers: give it a numeric dtype")
    if arr.dtype.kind in "US":
        raise DataError(f"{what} holds text, not numbers")
    return torch.from_numpy(np.ascontiguousarray(arr))


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


def _bundle_from_tensors(
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
    task = task or _guess_task(yt, from_text)
    xt = _prepare_inputs(xt)
    yt, num_classes = _prepare_targets(yt, task)
    train = TensorDataset(xt, yt)
    val_ds = None
    if val is not None:
        vx = _prepare_inputs(_as_tensor(val[0], "the validation inputs"))
        if vx.ndim == 1:
            vx = vx.unsqueeze(1)
        vy, vclasses = _prepare_targets(_as_tensor(val[1], "the validation targets"), task)
        if vx.shape[1:] != xt.shape[1:] or vx.shape[0] != vy.shape[0]:
            raise DataError(
                f"validation samples have shape {tuple(vx.shape[1:])} but training samples "
                f"have {tuple(xt.shape[1:])}"
            )
        if num_classes is not None and vclasses is not None:
            num_classes = max(num_classes, vclasses)
        val_ds = TensorDataset(vx, vy)
    n = xt.shape[0]
    summary = f"{n} samples, input {tuple(xt.shape[1:])}"
    if num_classes is not None:
        summary += f", {num_classes} classes"
    else:
        summary += f", target {tuple(yt.shape[1:])}"
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
                f"class labels must be one number per sample, but y has shape {tuple(y.shape)}"
            )
        if y.dtype.is_floating_point and not torch.equal(y, y.round()):
            raise DataError("class labels must be whole numbers (y holds fractions)")
        y = y.to(torch.int64)
        if y.numel() and y.min() < 0:
            raise DataError(f"class labels must be 0 or more (y holds {int(y.min())})")
        return y, int(y.max()) + 1 if y.numel() else 0
    if task != "regression":
        raise DataError(f"task must be classification or regression, not {task!r}")
    y = y.to(torch.float32)
    if y.ndim == 1:
        y = y.unsqueeze(1)  # (N,) -> (N, 1): what a model ending in Linear(..., 1) outputs
    return y, None


# ---------------------------------------------------------------------------------------
# files


def _load_csv(path: Path, opts: dict[str, str], source: str) -> DataBundle:
    _check_file_options(opts, {"target", "task"}, path.name)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a text CSV file (it is not UTF-8)") from None
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise DataError(f"{path} is empty")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    rows = [
        (lineno, row)
        for lineno, row in enumerate(csv.reader(lines, delimiter=delimiter), start=1)
        if row and any(c.strip() for c in row)
    ]
    header: list[str] | None = None
    if _looks_like_header(rows[0][1], rows[1][1] if len(rows) > 1 else None):
        header = [c.strip() for c in rows[0][1]]
        rows = rows[1:]
    if not rows:
        raise DataError(f"{path} has a header but no data rows")
    width = len(rows[0][1])
    if width < 2:
        raise DataError(f"{path} has one column: it needs at least one feature and a target")
    for lineno, row in rows:
        if len(row) != width:
            raise DataError(f"{path}, line {lineno}: {len(row)} columns where line 1 has {width}")
    target = _target_column(opts.get("target"), header, width, path)
    columns = [[row[j].strip() for _, row in rows] for j in range(width)]
    features = []
    for j in range(width):
        if j == target:
            continue
        try:
            features.append(np.array([float(c) for c in columns[j]], dtype=np.float32))
        except ValueError:
            lineno, bad = next((ln, r[j]) for ln, r in rows if not _is_number(r[j]))
            name = f"{header[j]!r} " if header else ""
            raise DataError(
                f"{path}, line {lineno}: column {name}(number {j + 1}) holds {bad!r}, "
                "not a number; dltui reads numeric features only"
            ) from None
    x = np.stack(features, axis=1)
    raw_y = columns[target]
    class_names = None
    task = _task_option(opts)
    if all(_is_number(c) for c in raw_y):
        y = np.array([float(c) for c in raw_y], dtype=np.float64)
    else:
        if task == "regression":
            bad = next(c for c in raw_y if not _is_number(c))
            raise DataError(f"{path}: the target column holds text ({bad!r}), not numbers")
        # Text labels ("setosa", "cat"): classes in sorted order, the names kept for display.
        class_names = sorted(set(raw_y))
        index = {name: i for i, name in enumerate(class_names)}
        y = np.array([index[c] for c in raw_y], dtype=np.int64)
        task = "classification"
    tname = header[target] if header else f"column {target + 1}"
    desc = f"{path.name} (target {tname})"
    return _bundle_from_tensors(x, y, task, desc, source, from_text=True, class_names=class_names)


def _looks_like_header(first: list[str], second: list[str] | None) -> bool:
    """A header has text where the data has numbers (a text label column alone is not
    a header: "5.1,3.5,setosa" followed by "4.9,3.0,setosa")."""
    text = [not _is_number(c) for c in first]
    if all(text) or second is None:
        return any(text)
    return any(t and j < len(second) and _is_number(second[j]) for j, t in enumerate(text))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _target_column(spec: str | None, header: list[str] | None, width: int, path: Path) -> int:
    if spec is None:
        return width - 1
    if header and spec in header:
        return header.index(spec)
    try:
        j = int(spec)
    except ValueError:
        names = ", ".join(header) if header else "(the file has no header: use an index)"
        raise DataError(f"{path.name} has no column {spec!r}: columns are {names}") from None
    if not -width <= j < width:
        raise DataError(f"target={spec}: {path.name} has {width} columns (0 to {width - 1})")
    return j % width


def _task_option(opts: dict[str, str]) -> str | None:
    task = opts.get("task")
    if task is not None and task not in ("classification", "regression"):
        raise DataError(f"task={task} must be classification or regression")
    return task


def _check_file_options(opts: dict[str, str], valid: set[str], what: str) -> None:
    for key in opts:
        if key not in valid:
            names = ", ".join(sorted(valid)) or "none"
            raise DataError(f"unknown option {key!r} for {what}: valid options are {names}")


def _load_npz(path: Path, opts: dict[str, str], source: str) -> DataBundle:
    _check_file_options(opts, {"task"}, path.name)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except Exception as exc:
        raise DataError(f"{path} is not a readable .npz file: {exc}") from None
    for xk, yk in (("X", "y"), ("x", "y"), ("X", "Y"), ("inputs", "targets")):
        if xk in arrays and yk in arrays:
            break
    else:
        if len(arrays) < 2:
            raise DataError(f"{path} must hold two arrays (X and y); it holds {len(arrays)}")
        xk, yk = list(arrays)[:2]
    x, y = arrays[xk], arrays[yk]
    val = None
    for vx, vy in (("X_val", "y_val"), ("x_val", "y_val"), ("X_test", "y_test")):
        if vx in arrays and vy in arrays:
            val = (arrays[vx], arrays[vy])
            break
    desc = f"{path.name} (X={xk}, y={yk})"
    return _bundle_from_tensors(x, y, _task_option(opts), desc, source, val=val)


def _load_npy(path: Path, opts: dict[str, str], source: str) -> DataBundle:
    _check_file_options(opts, {"task"}, path.name)
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError:
        # A saved (X, y) pair is an object array, which needs pickle. Only files the user
        # points at are loaded, as with torch.load in their own code.
        try:
            arr = np.load(path, allow_pickle=True)
        except Exception as exc:
            raise DataError(f"{path} is not a readable .npy file: {exc}") from None
    except Exception as exc:
        raise DataError(f"{path} is not a readable .npy file: {exc}") from None
    if arr.dtype == object:
        items = list(arr.ravel()) if arr.ndim else [arr.item()]
        if len(items) == 1 and isinstance(items[0], (tuple, list, dict)):
            items = list(items[0].values()) if isinstance(items[0], dict) else list(items[0])
        if len(items) != 2:
            raise DataError(f"{path} holds {len(items)} objects; save a pair (X, y) or one array")
        return _bundle_from_tensors(
            items[0], items[1], _task_option(opts), f"{path.name} (X, y)", source
        )
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise DataError(
            f"{path} holds an array of shape {arr.shape}: save a 2-D table whose last "
            "column is the target, or a pair (X, y), or use .npz with X and y"
        )
    return _bundle_from_tensors(
        arr[:, :-1],
        arr[:, -1],
        _task_option(opts),
        f"{path.name} (last column is the target)",
        source,
        from_text=True,
    )


# ---------------------------------------------------------------------------------------
# MNIST-format IDX files

_IDX_DTYPES = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_NAME = re.compile(r"(train|t10k)-(images|labels)[-.]idx[13]-ubyte(\.gz)?$")


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a NumPy array, checking its header."""
    path = Path(path)
    opener = gzip.open if path.name.endswith(".gz") else open
    try:
        with opener(path, "rb") as fh:
            data = fh.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path} cannot be read: {exc}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    dtype, ndim = _IDX_DTYPES[data[2]], data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated (its header is incomplete)")
    dims = struct.unpack(f">{ndim}I", data[4:header])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header < expected:
        raise DataError(
            f"{path} is truncated: {len(data) - header} bytes of data where {dims} needs {expected}"
        )
    return np.frombuffer(data, dtype=dtype, count=int(np.prod(dims)), offset=header).reshape(dims)


def _find_idx(path: Path) -> dict[str, Path] | None:
    """The IDX files under a folder (also its raw/ and torchvision layouts) or a prefix."""
    candidates: list[tuple[Path, str]] = []
    if path.is_dir():
        for sub in ("", "raw", "MNIST/raw", "FashionMNIST/raw"):
            candidates.append((path / sub if sub else path, ""))
    elif path.parent.is_dir():
        candidates.append((path.parent, path.name))
    for folder, prefix in candidates:
        if not folder.is_dir():
            continue
        found: dict[str, Path] = {}
        for entry in sorted(folder.iterdir()):
            name = entry.name
            if not name.startswith(prefix):
                continue
            rest = name[len(prefix) :].lstrip("-_.") if prefix else name
            m = _IDX_NAME.match(rest)
            if m and entry.is_file():
                found.setdefault(f"{m.group(1)}-{m.group(2)}", entry)
        if "train-images" in found or "train-labels" in found:
            return found
    return None


def _load_idx(files: dict[str, Path], source: str) -> DataBundle:
    for need in ("train-images", "train-labels"):
        if need not in files:
            have = ", ".join(p.name for p in files.values())
            raise DataError(f"{source}: no {need} IDX file next to {have}")

    def images(p: Path) -> np.ndarray:
        a = read_idx(p)
        if a.ndim == 3:
            a = a[:, None, :, :]  # (N, H, W) -> (N, 1, H, W): one channel for Conv2d
        if a.dtype == np.uint8:
            return a.astype(np.float32) / 255.0
        return a.astype(np.float32)

    x = images(files["train-images"])
    y = read_idx(files["train-labels"]).astype(np.int64)
    val = None
    if "t10k-images" in files and "t10k-labels" in files:
        val = (images(files["t10k-images"]), read_idx(files["t10k-labels"]).astype(np.int64))
    folder = files["train-images"].parent
    return _bundle_from_tensors(
        x, y, "classification", f"IDX images from {folder}", source, val=val
    )


# ---------------------------------------------------------------------------------------
# REPL namespace


def _from_namespace(name: str, obj: Any, source: str) -> DataBundle:
    if isinstance(obj, (tuple, list)) and len(obj) == 2:
        return _bundle_from_tensors(obj[0], obj[1], None, f"{name} (X, y)", source)
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
        return _bundle_from_tensors(x, y, None, f"{name} (TensorDataset)", source)
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
    summary = f"{n} samples, input {tuple(x0.shape)}"
    summary += f", {num_classes} classes" if num_classes else f", target {tuple(y0.shape)}"
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
# entry point

_FILE_LOADERS = {".csv": _load_csv, ".npz": _load_npz, ".npy": _load_npy}


def load_data(source: str, namespace: dict | None = None) -> DataBundle:
    """Load ``source`` (a synthetic set, a file, a folder or a REPL variable).

    Raises:
        DataError: the source is unknown or unreadable, or an option is wrong; the
            message says what to change.
    """
    if not isinstance(source, str) or not source.strip():
        raise DataError(
            "no data given: name a synthetic set (" + ", ".join(SYNTHETIC) + "), "
            "a .csv/.npz/.npy file or a folder of IDX files"
        )
    source = source.strip()
    if namespace is not None and source in namespace:
        return _from_namespace(source, namespace[source], source)

    name, option_text = source, ""
    if not os.path.exists(source):
        head, sep, tail = source.rpartition(":")
        if sep and ("=" in tail or not tail or head in SYNTHETIC or os.path.exists(head)):
            name, option_text = head, tail

    if name in SYNTHETIC:
        return _load_synthetic(name, option_text, source)

    path = Path(name).expanduser()
    opts = _parse_options(option_text, path.name) if option_text else {}
    suffix = path.suffix.lower()
    if path.is_file() and suffix in _FILE_LOADERS:
        return _FILE_LOADERS[suffix](path, opts, source)
    idx_files = _find_idx(path)
    if idx_files is not None:
        _check_file_options(opts, set(), str(path))
        return _load_idx(idx_files, source)
    if path.is_file():
        raise DataError(
            f"{path}: dltui reads .csv, .npz and .npy files and folders of IDX files, "
            f"not {suffix or 'files without an extension'}"
        )
    if path.is_dir():
        raise DataError(f"{path} is a folder without MNIST-format IDX files (train-images-...)")
    valid = ", ".join(SYNTHETIC)
    looks_like_path = os.sep in name or "." in name
    if looks_like_path:
        raise DataError(f"no such file or folder: {path}")
    names = f"{valid}" + (", or a REPL variable" if namespace is not None else "")
    raise DataError(f"unknown data {name!r}: use one of {names}, or the path of a file")


# ---------------------------------------------------------------------------------------
# model / data compatibility


def _shape_text(shape: tuple[int, ...] | torch.Size, batch: bool = True) -> str:
    dims = [str(d) for d in shape]
    if batch:
        dims = ["B", *dims[1:]]
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 and not batch else "") + ")"


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
) -> None:
    """Run one small batch through ``model`` and check its output against the targets.

    The batch (up to 4 training samples) goes through the model on ``device`` (the model
    is moved there if it is not) in eval mode and without gradients, so BatchNorm
    statistics and the weights are left as they were.

    Raises:
        DataError: the inputs do not fit the first layers, or the output does not fit
            the targets under ``loss_name``; the message names the layer or the size
            to change.
    """
    from tui.core.train.trainer import LOSSES, make_loss  # the trainer imports this module

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
            f"{loss_name} cannot compare the model output {_shape_text(out.shape)} "
            f"{_dtype(out)} with targets {_shape_text(y.shape)} {_dtype(y)}: {_first_line(exc)}"
        ) from None
    if loss.numel() != 1:
        raise DataError(f"{loss_name} gave {loss.numel()} values instead of one")


def _dtype(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


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
    sample = _shape_text(tuple(x.shape[1:]), batch=False)
    if not entered:
        return f"the model fails on a batch of samples of shape {sample}: {_first_line(exc)}"
    name, mod, args = entered[-1]
    first = len(entered) == 1
    inp = args[0] if args and isinstance(args[0], torch.Tensor) else None
    kind = type(mod).__name__
    where = f"layer {name} ({kind})"
    if inp is None:
        return f"{where} fails: {_first_line(exc)}"
    got = _shape_text(inp.shape)
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
    return f"{where} fails on input {got} {_dtype(inp)}: {_first_line(exc)}"


def _check_output(
    model: nn.Module, bundle: DataBundle, loss_name: str, out: torch.Tensor, y: torch.Tensor
) -> None:
    got = _shape_text(out.shape)
    if not out.dtype.is_floating_point:
        raise DataError(f"the model outputs {_dtype(out)} values; a loss needs floats")
    is_labels = not y.dtype.is_floating_point
    if loss_name == "cross_entropy":
        if not is_labels:
            if out.shape == y.shape and out.ndim == 2 and out.shape[1] >= 2:
                return  # class probabilities as targets
            raise DataError(
                f"cross_entropy needs class labels but the targets are {_dtype(y)} values of "
                f"shape {_shape_text(y.shape)} (regression data): use --loss mse or l1"
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
            f"the model outputs {got} but the targets have shape {_shape_text(y.shape)}: {hint}"
        )
