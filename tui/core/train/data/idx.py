"""MNIST-format IDX files: a folder (or a file-name prefix) of ``train-*`` / ``t10k-*``.

``train-images-idx3-ubyte[.gz]`` and ``train-labels-idx1-ubyte[.gz]`` are the training
set; ``t10k-*`` become the validation set. Images are scaled to [0, 1] and given one
channel, ``(N, 1, H, W)``, ready for a Conv2d. The header of every file is checked.
"""

from __future__ import annotations

import gzip
import math
import os
import re
import struct
import zlib
from pathlib import Path
from typing import IO

import numpy as np

from tui.core.text import first_line
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


# More than any IDX data set in use (MNIST's training images are 47 MB); a header that
# claims more is corrupt or hostile, and is refused before anything is allocated.
MAX_IDX_BYTES = 8 * 2**30
_CHUNK = 16 * 2**20


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a NumPy array, checking its header.

    The header is read first and the size it claims checked (against the file's size
    when uncompressed, against :data:`MAX_IDX_BYTES` always) before the data is read, in
    chunks, so a corrupt header cannot make it allocate terabytes. Every problem, a
    gzip or zlib error included, is a one-line :class:`DataError` naming the file.
    """
    path = Path(path)
    gz = path.name.endswith(".gz")
    try:
        with (gzip.open if gz else open)(path, "rb") as fh:
            return _read_idx(fh, path, None if gz else os.fstat(fh.fileno()).st_size)
    except DataError:
        raise
    except MemoryError:
        raise DataError(f"{path} is too large to load into memory") from None
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        what = "is not a readable gzip file" if gz else "cannot be read"
        raise DataError(f"{path} {what}: {first_line(exc)}") from None


def _read_idx(fh: IO[bytes], path: Path, file_size: int | None) -> np.ndarray:
    magic = fh.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0 or magic[2] not in _IDX_DTYPES:
        raise DataError(f"{path} is not an IDX file (bad magic number)")
    dtype, ndim = _IDX_DTYPES[magic[2]], magic[3]
    raw_dims = fh.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataError(f"{path} is truncated (its header is incomplete)")
    dims = struct.unpack(f">{ndim}I", raw_dims)
    count = math.prod(dims)
    expected = count * dtype.itemsize
    header = 4 + 4 * ndim
    if file_size is not None and file_size - header < expected:
        raise DataError(
            f"{path} is truncated or corrupt: its header claims {dims} ({expected:,} bytes) "
            f"but {file_size - header:,} bytes of data follow"
        )
    if expected > MAX_IDX_BYTES:
        raise DataError(
            f"{path}: its header claims {dims} ({expected:,} bytes), more than the "
            f"{MAX_IDX_BYTES:,} dltui reads from one IDX file: the file is corrupt"
        )
    parts, got = [], 0
    while got < expected:
        part = fh.read(min(_CHUNK, expected - got))
        if not part:
            break
        parts.append(part)
        got += len(part)
    if got < expected:
        raise DataError(
            f"{path} is truncated: {got:,} bytes of data where {dims} needs {expected:,}"
        )
    fh.read(1)  # reach the end, where gzip checks the CRC and length of what it gave
    return np.frombuffer(b"".join(parts), dtype=dtype, count=count).reshape(dims)


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
