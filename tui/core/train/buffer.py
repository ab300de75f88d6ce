"""The thread-safe buffer through which a trainer hands metric points to a UI.

The trainer appends a batch of points at each read-back (a few times a second); the
monitor, or ``dltui train``'s progress printer, drains it on its own timer: never one
message per step.
"""

from __future__ import annotations

import threading

from tui.core.train.series import MetricPoint

__all__ = ["MetricBuffer"]


class MetricBuffer:
    """Thread-safe list of :class:`MetricPoint`: the trainer appends, the UI drains.

    Appends arrive in batches (one per read-back), so the lock is taken a few times a
    second. When nobody drains, at most ``max_points`` are kept (the oldest are dropped
    and counted in ``dropped``): a forgotten buffer cannot eat the machine's memory.
    """

    def __init__(self, max_points: int = 1_000_000) -> None:
        self._lock = threading.Lock()
        self._points: list[MetricPoint] = []
        self.max_points = max_points
        self.dropped = 0

    def append(self, point: MetricPoint) -> None:
        self.extend([point])

    def extend(self, points: list[MetricPoint]) -> None:
        with self._lock:
            self._points.extend(points)
            excess = len(self._points) - self.max_points
            if excess > 0:
                del self._points[:excess]
                self.dropped += excess

    def drain(self) -> list[MetricPoint]:
        """Every point added since the last drain, in order."""
        with self._lock:
            points, self._points = self._points, []
        return points

    def __len__(self) -> int:
        with self._lock:
            return len(self._points)
