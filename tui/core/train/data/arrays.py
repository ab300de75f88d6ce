"""NumPy files: a ``.npz`` of named arrays, or a ``.npy`` table whose last column is the target.

Data files never unpickle: both are read with ``allow_pickle=False``, and an object array
(or a file that is a pickle) is refused with a message saying how to save it without
pickle. Every array's header is read first and its claimed size checked against the
bytes the file holds, so a header claiming 10^12 elements is refused before anything
is allocated. A ``.npz`` gives ``X``/``y`` (or ``x``/``y``, ``inputs``/``targets``,
else the first two), and ``X_val``/``y_val`` as a validation set when present.
"""

from __future__ import annotations

import io
import math
import zipfile
from pathlib import Path
from typing import IO

import numpy as np

from tui.core.train.data.bundle import (
    DataBundle,
    DataError,
    bundle_from_tensors,
    check_file_options,
    task_option,
)

__all__ = ["load_npy", "load_npz", "pickle_refusal"]

_PICKLE_PROTOCOL_BYTE = 0x80  # how a pickle of protocol 2 or later starts


def pickle_refusal(name: str) -> str:
    """The one line that refuses a file holding Python objects, and says what to do."""
    return (
        f"{name} holds Python objects (pickle), which dltui never loads: save plain numeric "
        "arrays, np.save(path, x.astype(np.float32)), or a pair as np.savez(path, X=X, y=y)"
    )


def _check_header(fh: IO[bytes], available: int, name: str) -> None:
    """Read a ``.npy`` header from ``fh`` and check it against ``available`` bytes.

    Raises DataError for a pickle, an object dtype, a malformed header, or a shape that
    needs more bytes than there are (a short or hostile file).
    """
    start = fh.read(6)
    fh.seek(-len(start), 1)
    if start[:1] == bytes([_PICKLE_PROTOCOL_BYTE]):
        raise DataError(pickle_refusal(name))
    try:
        version = np.lib.format.read_magic(fh)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
        elif version == (2, 0):
            shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        else:  # 3.0 is for structured dtypes with non-Latin field names: not plain numbers
            raise DataError(f"{name} is a .npy file of version {version}: save a numeric array")
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{name} is not a readable .npy file (its header: {exc})") from None
    if dtype.hasobject:
        raise DataError(pickle_refusal(name))
    needed = math.prod(shape) * dtype.itemsize
    header_end = fh.tell()
    if needed > available - header_end:
        raise DataError(
            f"{name} is truncated or corrupt: its header claims shape {tuple(shape)} of "
            f"{dtype} ({needed:,} bytes) but only {max(0, available - header_end):,} follow"
        )


def _load_array(fh: IO[bytes], available: int, name: str) -> np.ndarray:
    _check_header(fh, available, name)
    fh.seek(0)
    try:
        return np.lib.format.read_array(fh, allow_pickle=False)
    except MemoryError:
        raise DataError(f"{name} is too large to load into memory") from None
    except ValueError as exc:
        if "pickle" in str(exc):
            raise DataError(pickle_refusal(name)) from None
        raise DataError(f"{name} is not a readable .npy file: {exc}") from None
    except Exception as exc:
        raise DataError(f"{name} is not a readable .npy file: {exc}") from None


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    """Every ``*.npy`` member of an archive, each header checked against its declared size."""
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for info in archive.infolist():
                key = info.filename.removesuffix(".npy")
                where = f"{path.name}[{key}]"
                with archive.open(info) as member:
                    # A zip member's stream cannot seek back cheaply: read the header
                    # bytes, check them, then read the rest.
                    arrays[key] = _load_member(member, info.file_size, where)
    except DataError:
        raise
    except MemoryError:
        raise DataError(f"{path} is too large to load into memory") from None
    except Exception as exc:  # BadZipFile, a bad CRC, a truncated member, zlib errors
        raise DataError(f"{path} is not a readable .npz file: {exc}") from None
    return arrays


def _load_member(member: IO[bytes], size: int, where: str) -> np.ndarray:
    head = member.read(min(size, 65_536))
    probe = io.BytesIO(head)
    _check_header(probe, size, where)
    # The header fits in the first 64 KiB (numpy caps it at 10,000 bytes by default).
    rest = member.read()
    if len(head) + len(rest) != size:
        raise DataError(f"{where} is truncated ({len(head) + len(rest):,} of {size:,} bytes)")
    buf = io.BytesIO(head + rest)
    return _load_array(buf, size, where)


def load_npz(path: Path, opts: dict[str, str], source: str) -> DataBundle:
    check_file_options(opts, {"task"}, path.name)
    arrays = _read_npz(path)
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
        size = path.stat().st_size
        with open(path, "rb") as fh:
            if fh.read(4) == b"PK\x03\x04":
                raise DataError(f"{path} is a .npz archive named .npy: rename it to .npz")
            fh.seek(0)
            arr = _load_array(fh, size, path.name)
    except OSError as exc:
        raise DataError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise DataError(
            f"{path} holds an array of shape {arr.shape}: save a 2-D table whose last "
            "column is the target, or use .npz with X and y (np.savez(path, X=X, y=y))"
        )
    return bundle_from_tensors(
        arr[:, :-1],
        arr[:, -1],
        task_option(opts),
        f"{path.name} (last column is the target)",
        source,
        from_text=True,
    )
