"""NumPy files: a ``.npz`` of named arrays, or a ``.npy`` table or ``(X, y)`` pair.

A ``.npz`` is read with ``allow_pickle=False``: arrays ``X``/``y`` (or ``x``/``y``,
``inputs``/``targets``, else the first two), and ``X_val``/``y_val`` as a validation set
when present. A ``.npy`` is a 2-D table whose last column is the target, or a saved pair.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tui.core.train.data.bundle import (
    DataBundle,
    DataError,
    bundle_from_tensors,
    check_file_options,
    task_option,
)

__all__ = ["load_npy", "load_npz"]


def load_npz(path: Path, opts: dict[str, str], source: str) -> DataBundle:
    check_file_options(opts, {"task"}, path.name)
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
    return bundle_from_tensors(x, y, task_option(opts), desc, source, val=val)


def load_npy(path: Path, opts: dict[str, str], source: str) -> DataBundle:
    check_file_options(opts, {"task"}, path.name)
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
        return bundle_from_tensors(
            items[0], items[1], task_option(opts), f"{path.name} (X, y)", source
        )
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise DataError(
            f"{path} holds an array of shape {arr.shape}: save a 2-D table whose last "
            "column is the target, or a pair (X, y), or use .npz with X and y"
        )
    return bundle_from_tensors(
        arr[:, :-1],
        arr[:, -1],
        task_option(opts),
        f"{path.name} (last column is the target)",
        source,
        from_text=True,
    )
