"""MNIST-format IDX files: a folder (or a file-name prefix) of ``train-*`` / ``t10k-*``.

``train-images-idx3-ubyte[.gz]`` and ``train-labels-idx1-ubyte[.gz]`` are the training
set; ``t10k-*`` become the validation set. Images are scaled to [0, 1] and given one
channel, ``(N, 1, H, W)``, ready for a Conv2d. The header of every file is checked.
"""

from __future__ import annotations

import gzip
import os
import re
import struct
from pathlib import Path

import numpy as np

from tui.core.train.data.bundle import DataBundle, DataError, bundle_from_tensors

__all__ = ["find_idx", "load_idx", "read_idx"]

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


def find_idx(path: Path) -> dict[str, Path] | None:
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


def load_idx(files: dict[str, Path], source: str) -> DataBundle:
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
    return bundle_from_tensors(x, y, "classification", f"IDX images from {folder}", source, val=val)
