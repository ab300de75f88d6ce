"""Following many run sources at once, for ``dltui watch PATH...``: polled off the UI thread.

A :class:`SourceFollower` owns a :class:`~tui.core.train.sources.discover.Discovery`.
:meth:`~SourceFollower.poll` runs on a worker thread: it scans for new runs every
:data:`RESCAN_EVERY` seconds, polls every source, and queues what they return (compact
:class:`~tui.core.train.sources.base.Scalars`, never one object per point) with a
:class:`RunRow` per run for the runs list. :meth:`~SourceFollower.take` runs on the UI
thread and hands out at most ``max_points`` points per call (a big log arrives over
several drains), so the work of one drain stays bounded whatever the log's size. While
the queue holds more than :data:`MAX_QUEUED` points, polling waits for the UI to catch
up, which bounds memory too.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tui.core.text import first_line
from tui.core.train.config import RunState
from tui.core.train.sources.base import RunSource, Scalars, SourceKind
from tui.core.train.sources.discover import Discovery

__all__ = ["MAX_QUEUED", "RESCAN_EVERY", "Batch", "RunRow", "SourceFollower"]

RESCAN_EVERY = 3.0
# Points read ahead of the UI (~6 MB of arrays; a poll may add one slice more): a big
# log is read about as fast as the UI takes it, not all at once into memory (the
# budget for 10^6 scalars is 150 MB).
MAX_QUEUED = 250_000


@dataclass(frozen=True)
class RunRow:
    """One run as the runs list shows it (a snapshot taken on the polling thread)."""

    name: str
    kind: SourceKind
    path: Path
    state: RunState
    last_step: int | None
    last_update: float | None
    error: str | None
    tags: tuple[str, ...]


@dataclass
class Batch:
    """What one :meth:`SourceFollower.take` hands the UI."""

    points: list[tuple[str, str, Scalars]] = field(default_factory=list)  # run, tag, points
    rows: list[RunRow] | None = None  # None: unchanged since the last take
    more: bool = False  # points are still queued


def _row(src: RunSource) -> RunRow:
    return RunRow(
        src.name,
        src.kind,
        src.path,
        src.state,
        src.last_step,
        src.last_update,
        src.error,
        tuple(src.tags),
    )


class SourceFollower:
    """Polls the runs under ``paths`` (module docstring); thread-safe between one poller
    and one taker."""

    def __init__(self, discovery: Discovery, rescan_every: float = RESCAN_EVERY) -> None:
        self.discovery = discovery
        self.rescan_every = rescan_every
        self.polls = 0
        self._lock = threading.Lock()
        self._queue: list[tuple[str, str, Scalars]] = []
        self._queued = 0
        self._rows: list[RunRow] | None = None
        self._last_scan: float | None = None
        # One poll at a time: the app may start the first one (a big log) before the
        # monitor's own poller exists; a poll asked for meanwhile returns at once.
        self._polling = threading.Lock()

    @classmethod
    def of(cls, paths: list[str | Path], rescan_every: float = RESCAN_EVERY) -> SourceFollower:
        """A follower of the runs under ``paths`` (scanned at the first poll)."""
        return cls(Discovery(paths), rescan_every)

    def poll(self) -> None:
        """Rescan when due, poll every source, queue the results (worker thread).

        Returns at once when another thread's poll is under way."""
        if not self._polling.acquire(blocking=False):
            return
        try:
            self._poll()
        finally:
            self._polling.release()

    def _poll(self) -> None:
        now = time.monotonic()
        if self._last_scan is None or now - self._last_scan >= self.rescan_every:
            self._last_scan = now
            # A folder vanishing mid-walk: the next scan tries again.
            with contextlib.suppress(OSError):
                self.discovery.scan()
        todo = list(self.discovery.sources)
        while todo:
            # A source with a backlog (a big log, read a slice per poll) is polled again
            # at once: each slice is queued as soon as it is read, so the UI draws the
            # first points while the rest is still being decoded.
            todo = [src for src in todo if self._poll_one(src) and src.backlog]
            self._snapshot()
        self.polls += 1

    def _poll_one(self, src: RunSource) -> bool:
        """Poll one source and queue its points; False when the queue is full (the UI
        has not caught up: the rest is read later) or the poll failed."""
        if self._queued >= MAX_QUEUED:
            return False
        try:
            new = src.poll()
        except Exception as exc:  # poll() should not raise; one bad run never stops all
            src.error = f"{type(exc).__name__}: {first_line(exc)}"
            return False
        parts = [(src.name, tag, pts) for tag, pts in new.items() if len(pts)]
        if parts:
            with self._lock:
                self._queue.extend(parts)
                self._queued += sum(len(p[2]) for p in parts)
        return True

    def _snapshot(self) -> None:
        rows = [_row(src) for src in self.discovery.sources]
        with self._lock:
            self._rows = rows

    def take(self, max_points: int = 200_000) -> Batch:
        """Queued points, at most ``max_points`` of them, and the rows if they changed
        (UI thread)."""
        out = Batch()
        with self._lock:
            out.rows, self._rows = self._rows, None
            budget = max_points
            while self._queue and budget > 0:
                run, tag, pts = self._queue[0]
                if len(pts) <= budget:
                    self._queue.pop(0)
                    out.points.append((run, tag, pts))
                    budget -= len(pts)
                    continue
                head = Scalars(pts.steps[:budget], pts.times[:budget], pts.values[:budget])
                rest = Scalars(pts.steps[budget:], pts.times[budget:], pts.values[budget:])
                self._queue[0] = (run, tag, rest)
                out.points.append((run, tag, head))
                budget = 0
            self._queued -= max_points - budget
            out.more = bool(self._queue)
        return out

    def rescan_soon(self) -> None:
        """Look for new runs at the next poll rather than when the interval is up."""
        self._last_scan = None

    @property
    def backlog(self) -> bool:
        """Whether a source has more on disk than its last poll read (a big log)."""
        return any(src.backlog for src in self.discovery.sources)

    @property
    def queued(self) -> int:
        """Points polled and not yet taken."""
        return self._queued
