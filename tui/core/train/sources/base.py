"""The interface every run reader implements, and the compact arrays it returns.

A :class:`RunSource` is one run written by anyone: dltui itself, a TensorBoard
``SummaryWriter``, Lightning's ``CSVLogger``. The monitor polls each source on a worker
thread; :meth:`RunSource.poll` returns only the points added since the previous poll,
per tag, as :class:`Scalars` (three NumPy arrays), never one Python object per point, so
that opening a log of 10^6 scalars stays within the memory budget (DESIGN.md, Budgets).

``poll()`` never raises for bad data (torn records, garbage files, a file vanishing):
what could not be read is skipped and described in ``error``; reading carries on from
the last good position next time.

State of a run written by another program (TensorBoard, Lightning), which leaves no
status file: RUNNING while one of its data files changed in the last
:data:`ACTIVE_WINDOW` seconds (150 s: torch's ``SummaryWriter`` flushes every 120 s by
default, so a live run is not shown finished between two flushes), FINISHED once the
files stopped changing for longer (a crashed writer looks the same: nothing on disk
tells them apart), UNKNOWN while no data file exists yet.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from tui.core.train.config import RunState

__all__ = [
    "ACTIVE_WINDOW",
    "RunSource",
    "Scalars",
    "SourceKind",
    "concat_scalars",
    "foreign_state",
    "newest_mtime",
]

SourceKind = Literal["dltui", "tensorboard", "lightning"]

ACTIVE_WINDOW = 150.0
"""Seconds since the last change of a foreign run's files for it to count as running."""


class Scalars(NamedTuple):
    """Points of one tag: ``steps`` (int64), ``times`` (UNIX seconds, float64; NaN when
    the format has no time) and ``values`` (float64, NaN/Inf kept), equal lengths."""

    steps: np.ndarray
    times: np.ndarray
    values: np.ndarray

    def __len__(self) -> int:  # type: ignore[override]
        return int(self.steps.shape[0])

    @classmethod
    def empty(cls) -> Scalars:
        return cls(np.empty(0, np.int64), np.empty(0, np.float64), np.empty(0, np.float64))

    @classmethod
    def from_lists(
        cls, steps: Iterable[int], times: Iterable[float], values: Iterable[float]
    ) -> Scalars:
        return cls(
            np.asarray(list(steps), dtype=np.int64),
            np.asarray(list(times), dtype=np.float64),
            np.asarray(list(values), dtype=np.float64),
        )


def concat_scalars(parts: list[Scalars]) -> Scalars:
    """One :class:`Scalars` from several, in order."""
    if not parts:
        return Scalars.empty()
    if len(parts) == 1:
        return parts[0]
    return Scalars(
        np.concatenate([p.steps for p in parts]),
        np.concatenate([p.times for p in parts]),
        np.concatenate([p.values for p in parts]),
    )


def foreign_state(last_update: float | None, now: float | None = None) -> RunState:
    """The state of a run with no status file, from its files' last change (see above)."""
    if last_update is None:
        return RunState.UNKNOWN
    now = time.time() if now is None else now
    return RunState.RUNNING if now - last_update <= ACTIVE_WINDOW else RunState.FINISHED


def newest_mtime(paths: Iterable[str | os.PathLike]) -> float | None:
    """The latest modification time among ``paths`` (missing ones ignored), or None."""
    best = None
    for p in paths:
        try:
            m = os.stat(p).st_mtime
        except OSError:
            continue
        if best is None or m > best:
            best = m
    return best


class RunSource(ABC):
    """One run, read incrementally.

    ``name`` is what the runs list shows (the path relative to the folder given to
    :func:`~tui.core.train.sources.discover.discover`), ``kind`` the format, ``path``
    the run's folder (or file). ``tags`` are the scalar tags seen so far, in first-seen
    order; ``error`` the last problem met while reading (None when all was well).
    """

    kind: SourceKind

    def __init__(self, path: str | os.PathLike, name: str | None = None) -> None:
        self.path = Path(path)
        self.name = name if name is not None else self.path.name
        self.error: str | None = None
        self._tags: dict[str, None] = {}
        self.last_step: int | None = None
        # True when a poll stopped before the end of what is on disk (a big log is read
        # a slice per poll, so the first points reach the screen before the last ones).
        self.backlog = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r}, {str(self.path)!r})"

    @property
    def tags(self) -> list[str]:
        return list(self._tags)

    @abstractmethod
    def poll(self) -> dict[str, Scalars]:
        """Points added since the previous call, per tag (never raises for bad data)."""

    @property
    @abstractmethod
    def last_update(self) -> float | None:
        """UNIX time of the run's last change on disk, or None when nothing is there."""

    @property
    def state(self) -> RunState:
        """RUNNING / FINISHED / UNKNOWN by the rule in this module's docstring; dltui
        runs override it with their status file."""
        return foreign_state(self.last_update)

    def _note(self, out: dict[str, Scalars]) -> dict[str, Scalars]:
        """Record tags and the last step of what a poll returns (subclasses call it)."""
        for tag, pts in out.items():
            self._tags.setdefault(tag, None)
            if len(pts):
                last = int(pts.steps.max())
                if self.last_step is None or last > self.last_step:
                    self.last_step = last
        return out
