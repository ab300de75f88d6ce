"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every file dltui writes whole (spec files, exported code, run config and status,
checkpoints) goes through here: write a temporary file in the same folder, flush it to
disk (``fsync``), then ``os.replace`` it over the target and ``fsync`` the folder, so
that after a crash or a power cut the target is the old file or the new one, whole.
A failure leaves the target untouched and no temporary file behind; a process killed
outright (``kill -9``) mid-write can leave its temporary file: those are named
``.<target name>.<random>.tmp`` (:func:`temp_files` finds them) and are removed by the
next writer of that folder, never read.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "atomic_file",
    "atomic_path",
    "fsync_dir",
    "remove_temp_files",
    "temp_files",
    "write_bytes_atomic",
    "write_text_atomic",
]

TEMP_SUFFIX = ".tmp"


def _temp_prefix(target: Path) -> str:
    return f".{target.name}."


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``.

    The caller writes the temporary file and is responsible for flushing it to disk
    (:func:`atomic_file` does both); the folder is fsynced after the rename.
    """
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=_temp_prefix(target), suffix=TEMP_SUFFIX)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(target.parent)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Yield a binary file that replaces ``path`` once the block ends without error.

    Its data is flushed and fsynced before the rename: without that a crash soon after
    can leave the new name pointing at an empty or partial file on some file systems.
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())


def fsync_dir(folder: str | os.PathLike[str]) -> None:
    """Make a rename in ``folder`` durable (best effort: not every platform allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (flushed to disk before the rename)."""
    with atomic_file(path) as fh:
        fh.write(data)


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    write_bytes_atomic(path, text.encode("utf-8"))


def temp_files(folder: str | os.PathLike[str], name: str | None = None) -> list[Path]:
    """The temporary files an interrupted atomic write left in ``folder`` (of the target
    ``name`` only, when given)."""
    prefix = "." if name is None else _temp_prefix(Path(name))
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return []
    return sorted(
        p
        for p in entries
        if p.name.startswith(prefix) and p.name.endswith(TEMP_SUFFIX) and p.is_file()
    )


def remove_temp_files(folder: str | os.PathLike[str], name: str | None = None) -> list[Path]:
    """Remove what :func:`temp_files` finds (call it only while no other process writes
    ``folder``: a live writer's temporary file looks the same); returns what went."""
    removed = []
    for p in temp_files(folder, name):
        with contextlib.suppress(OSError):
            p.unlink()
            removed.append(p)
    return removed
