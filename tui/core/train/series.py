"""Metric series for plotting: storage, EMA smoothing and per-column min/max downsampling.

The training monitor redraws a few times a second for as long as a run lasts, and
plotext's ``build()`` costs ~650 ms for 10^5 points, so nothing here may hand a plot (or
cost the UI thread) an amount that grows with run length:

- ``MetricSeries`` keeps every point in growable NumPy arrays (amortised O(1) append) and
  maintains, as points arrive, a ``ColumnAggregate`` of the raw and of the smoothed values:
  asking for a plot-ready series of ``width`` columns then costs O(a few thousand),
  whatever the number of steps.
- ``downsample_minmax`` is the same idea for arbitrary arrays, in one O(n) NumPy pass;
- ``RunMetrics`` holds one ``MetricSeries`` per metric name, fed with drained points.

Both keep each column's minimum and maximum (not a mean, not every k-th point), so a loss
spike stays visible however far the plot is zoomed out.

This module needs NumPy only (no torch), so a monitor can import it before torch loads.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from tui.core.train.smoothing import EmaState, ema, ema_continued

__all__ = [
    "ColumnAggregate",
    "MetricPoint",
    "MetricSeries",
    "RunMetrics",
    "downsample_minmax",
    "drop_nonpositive",
    "ema",
]

METRIC_NAMES = ("train/loss", "val/loss", "val/accuracy", "lr")
"""The metric names the trainer writes (also the names in ``metrics.jsonl``)."""


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One metric value: what the trainer emits and what ``metrics.jsonl`` holds per line.

    ``step`` counts optimizer steps from 1, ``epoch`` counts from 1, ``time`` is wall-clock
    UNIX time in seconds, ``value`` may be NaN or infinite (a diverged run).
    """

    step: int
    epoch: int
    time: float
    name: str
    value: float

    def to_dict(self) -> dict:
        return {
            "step": self.step,
            "epoch": self.epoch,
            "time": self.time,
            "name": self.name,
            "value": self.value,
        }


# ---------------------------------------------------------------------------------------
# downsampling


def downsample_minmax(
    x: Iterable[float] | np.ndarray,
    y: Iterable[float] | np.ndarray,
    width: int,
    x_range: tuple[float, float] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Reduce ``(x, y)`` to at most two points per plot column: each column's min and max.

    The x range is cut into ``width`` equal columns; within each, the points holding the
    smallest and the largest y are kept, in x order (one point where they coincide). A
    spike therefore survives any zoom level, and plotext gets at most ``2 * width``
    points. Non-finite points (NaN/Inf in x or y) are dropped: they cannot be drawn and
    would poison the min/max. Points need not be sorted by x. O(n), plus a sort when x
    is not already non-decreasing.

    ``x_range`` (a plot's axis bounds) cuts the columns from that range instead of the
    points' own: while the axis holds, a new point changes the last column only, not
    every column's edges (a steady plot repaints a few rows, not the whole frame).
    """
    if width < 1:
        raise ValueError(f"width must be at least 1, not {width}")
    xs = np.asarray(x, dtype=np.float64).ravel()
    ys = np.asarray(y, dtype=np.float64).ravel()
    if xs.shape != ys.shape:
        raise ValueError(f"x and y differ in length: {xs.size} and {ys.size}")
    keep = np.isfinite(xs) & np.isfinite(ys)
    if not keep.all():
        xs, ys = xs[keep], ys[keep]
    n = xs.size
    if n and np.any(xs[1:] < xs[:-1]):
        order = np.argsort(xs, kind="stable")
        xs, ys = xs[order], ys[order]
    if n <= 2 * width:
        return xs, ys
    x0, span = xs[0], xs[-1] - xs[0]
    if x_range is not None and x_range[1] > x_range[0]:
        x0, span = x_range[0], x_range[1] - x_range[0]
    if span <= 0:
        col = np.zeros(n, dtype=np.int64)
    else:
        col = np.clip(((xs - x0) * (width / span)).astype(np.int64), 0, width - 1)
    starts = np.flatnonzero(np.r_[True, col[1:] != col[:-1]])
    seg = np.repeat(np.arange(starts.size), np.diff(np.r_[starts, n]))
    mins = np.minimum.reduceat(ys, starts)
    maxs = np.maximum.reduceat(ys, starts)
    idx = np.union1d(
        _first_per_segment(ys == mins[seg], seg), _first_per_segment(ys == maxs[seg], seg)
    )
    return xs[idx], ys[idx]


def _first_per_segment(mask: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Index of the first True of ``mask`` within each run of equal ``seg`` values."""
    cand = np.flatnonzero(mask)
    s = seg[cand]
    return cand[np.r_[True, s[1:] != s[:-1]]]


def drop_nonpositive(
    x: Iterable[float] | np.ndarray, y: Iterable[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the points a log-scale y axis can show: finite and ``y > 0``.

    plotext's log scale calls ``math.log10`` on every value and raises ``math domain
    error`` on zero or a negative number (a loss can be exactly 0; an accuracy too).
    """
    xs = np.asarray(x, dtype=np.float64).ravel()
    ys = np.asarray(y, dtype=np.float64).ravel()
    keep = np.isfinite(xs) & np.isfinite(ys) & (ys > 0)
    return xs[keep], ys[keep]


class ColumnAggregate:
    """Min/max buckets over x, maintained as points arrive, for plotting at any width.

    Points go into buckets of equal x span starting at the first point's x. When the
    buckets would exceed ``capacity``, neighbours are merged in pairs and the span
    doubles, so memory and the cost of :meth:`columns` stay O(capacity) however many
    points were added, and each :meth:`add` is O(1) amortised. Each bucket remembers its
    minimum and maximum and the x where they occurred, so merging loses no spike.

    ``columns(width)`` regroups the buckets' extreme points into ``width`` plot columns.
    While there are at least two buckets per column (any width up to ``capacity // 4``
    once the buckets have been merged), every column's min and max are those of the raw
    points in it, up to where a bucket straddles a column edge.
    Non-finite points are counted in ``dropped`` and otherwise ignored. x is expected to
    grow (steps, times); a point left of the first one joins the first bucket.
    """

    def __init__(self, capacity: int = 4096, initial_span: float = 1.0) -> None:
        if capacity < 4 or capacity % 2:
            raise ValueError("capacity must be an even number of at least 4")
        if not initial_span > 0:
            raise ValueError("initial_span must be positive")
        self.capacity = capacity
        self.initial_span = float(initial_span)
        self.span = self.initial_span
        self.x0: float | None = None
        self.count = 0
        self.dropped = 0
        self._n = 0  # buckets in use: indices 0 .. _n-1
        self._min = np.full(capacity, np.inf)
        self._max = np.full(capacity, -np.inf)
        self._xmin = np.zeros(capacity)
        self._xmax = np.zeros(capacity)

    def __len__(self) -> int:
        return self.count

    def add(self, x: float, y: float) -> None:
        """Add one point (O(1) amortised)."""
        if not (math.isfinite(x) and math.isfinite(y)):
            self.dropped += 1
            return
        if self.x0 is None:
            self.x0 = x
        i = max(0, int((x - self.x0) // self.span))
        while i >= self.capacity:
            self._coarsen()
            i = int((x - self.x0) // self.span)
        if y < self._min[i]:
            self._min[i], self._xmin[i] = y, x
        if y > self._max[i]:
            self._max[i], self._xmax[i] = y, x
        self._n = max(self._n, i + 1)
        self.count += 1

    def add_many(self, xs: Iterable[float], ys: Iterable[float]) -> None:
        """Add several points in order."""
        for x, y in zip(xs, ys, strict=True):
            self.add(float(x), float(y))

    def add_arrays(self, xs: np.ndarray, ys: np.ndarray) -> None:
        """Add many points at once, as :meth:`add` would one by one (vectorised)."""
        xs = np.asarray(xs, dtype=np.float64).ravel()
        ys = np.asarray(ys, dtype=np.float64).ravel()
        ok = np.isfinite(xs) & np.isfinite(ys)
        self.dropped += int(ok.size - np.count_nonzero(ok))
        xs, ys = xs[ok], ys[ok]
        if xs.size == 0:
            return
        if self.x0 is None:
            self.x0 = float(xs[0])
        xmax = float(xs.max())
        while (xmax - self.x0) // self.span >= self.capacity:
            self._coarsen()
        idx = np.maximum(0, (xs - self.x0) // self.span).astype(np.int64)
        if idx.size > 1 and np.any(idx[1:] < idx[:-1]):  # x went back: group by bucket
            order = np.argsort(idx, kind="stable")
            idx, xs, ys = idx[order], xs[order], ys[order]
        # Buckets are now runs of equal idx: each run's min and max, and the first x where
        # each occurs (as add() keeps the first of equal values), without sorting values.
        starts = np.flatnonzero(np.r_[True, idx[1:] != idx[:-1]])
        counts = np.diff(np.r_[starts, idx.size])
        b = idx[starts]
        for reduce, arr_v, arr_x, better in (
            (np.minimum, self._min, self._xmin, np.less),
            (np.maximum, self._max, self._xmax, np.greater),
        ):
            v = reduce.reduceat(ys, starts)
            hits = np.flatnonzero(ys == np.repeat(v, counts))
            group = np.searchsorted(starts, hits, side="right") - 1
            first = hits[np.r_[True, group[1:] != group[:-1]]]
            take = better(v, arr_v[b])
            arr_v[b[take]] = v[take]
            arr_x[b[take]] = xs[first][take]
        self._n = max(self._n, int(idx.max()) + 1)
        self.count += int(xs.size)

    def clear(self) -> None:
        """Forget every point (keeps capacity; the span starts small again)."""
        self.__init__(self.capacity, self.initial_span)

    def _coarsen(self) -> None:
        """Merge buckets pairwise: bucket k now covers what 2k and 2k+1 covered."""
        half = self.capacity // 2
        for lo, arr_v, arr_x, better in (
            (True, self._min, self._xmin, np.less),
            (False, self._max, self._xmax, np.greater),
        ):
            a_v, b_v = arr_v[0::2].copy(), arr_v[1::2].copy()
            a_x, b_x = arr_x[0::2].copy(), arr_x[1::2].copy()
            take_b = better(b_v, a_v)
            arr_v[:half] = np.where(take_b, b_v, a_v)
            arr_x[:half] = np.where(take_b, b_x, a_x)
            arr_v[half:] = np.inf if lo else -np.inf
            arr_x[half:] = 0.0
        self.span *= 2.0
        self._n = (self._n + 1) // 2

    def columns(
        self, width: int, x_range: tuple[float, float] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """At most ``2 * width`` points (each column's min and max) in x order; columns
        cut from ``x_range`` when given (``downsample_minmax``)."""
        if width < 1:
            raise ValueError(f"width must be at least 1, not {width}")
        n = self._n
        used = np.isfinite(self._min[:n])
        bmin, bmax = self._min[:n][used], self._max[:n][used]
        bxmin, bxmax = self._xmin[:n][used], self._xmax[:n][used]
        if bmin.size == 0:
            return np.empty(0), np.empty(0)
        # Each bucket contributes its two extreme points; downsample_minmax then keeps
        # each column's extremes among them, which are the column's true extremes.
        xs = np.concatenate([bxmin, bxmax])
        ys = np.concatenate([bmin, bmax])
        order = np.argsort(xs, kind="stable")
        xs, ys = xs[order], ys[order]
        # Drop the duplicate where a bucket's min and max are the same point.
        dup = np.r_[False, (xs[1:] == xs[:-1]) & (ys[1:] == ys[:-1])]
        return downsample_minmax(xs[~dup], ys[~dup], width, x_range)


class MetricSeries:
    """All values of one metric, with a smoothed copy and plot-ready aggregates.

    Append costs O(1) amortised (arrays double when full). ``steps``, ``values``,
    ``times``, ``epochs`` and ``smoothed`` are read-only views of the points so far.
    ``plot_points(width)`` returns at most ``2 * width`` points whatever the length,
    built from aggregates updated as points arrive, so redrawing a plot does not get
    slower as a run goes on. Changing ``smoothing`` recomputes the smoothed copy once
    (vectorised, O(n)); afterwards it is again updated point by point.

    Not thread-safe: one thread (the UI's) appends what it drains from the trainer's
    buffer, and reads.
    """

    def __init__(self, name: str = "", smoothing: float = 0.6, capacity: int = 1024) -> None:
        if not 0.0 <= smoothing <= 1.0:
            raise ValueError(f"smoothing must be between 0 and 1, not {smoothing!r}")
        self.name = name
        self._smoothing = float(smoothing)
        self._n = 0
        cap = max(16, capacity)
        self._steps = np.zeros(cap, dtype=np.int64)
        self._values = np.zeros(cap, dtype=np.float64)
        self._times = np.zeros(cap, dtype=np.float64)
        # Epochs only once a point has one: logs of other programs (TensorBoard, 10^6
        # scalars) have none, and 8 bytes a point count against the memory budget.
        self._epochs: np.ndarray | None = None
        self._smoothed = np.zeros(cap, dtype=np.float64)
        self._ema = EmaState(self._smoothing)
        self._raw_cols = ColumnAggregate()
        self._smooth_cols = ColumnAggregate()

    def __len__(self) -> int:
        return self._n

    def _grow(self) -> None:
        cap = 2 * self._steps.size
        for attr in ("_steps", "_values", "_times", "_epochs", "_smoothed"):
            old = getattr(self, attr)
            if old is None:
                continue
            new = np.zeros(cap, dtype=old.dtype)
            new[: self._n] = old[: self._n]
            setattr(self, attr, new)

    def _epoch_array(self) -> np.ndarray:
        """The epochs array, made (zeros so far) on first use."""
        if self._epochs is None:
            self._epochs = np.zeros(self._steps.size, dtype=np.int64)
        return self._epochs

    def append(self, step: int, value: float, time: float = 0.0, epoch: int = 0) -> None:
        """Add one point. Steps are expected to grow; NaN and Inf are stored as they are."""
        if self._n == self._steps.size:
            self._grow()
        i = self._n
        value = float(value)
        smoothed = self._ema.update(value)
        self._steps[i] = step
        self._values[i] = value
        self._times[i] = time
        if epoch or self._epochs is not None:
            self._epoch_array()[i] = epoch
        self._smoothed[i] = smoothed
        self._n += 1
        self._raw_cols.add(float(step), value)
        self._smooth_cols.add(float(step), smoothed)

    def extend_arrays(
        self,
        steps: np.ndarray,
        values: np.ndarray,
        times: np.ndarray | None = None,
        epochs: np.ndarray | None = None,
    ) -> None:
        """Add many points at once (what a run source's poll returns), the same as
        :meth:`append` one by one but vectorised: 10^5 points cost milliseconds."""
        steps = np.asarray(steps, dtype=np.int64).ravel()
        n = int(steps.size)
        if n == 0:
            return
        values = np.asarray(values, dtype=np.float64).ravel()
        while self._n + n > self._steps.size:
            self._grow()
        i, j = self._n, self._n + n
        smoothed = ema_continued(values, self._ema)
        self._steps[i:j] = steps
        self._values[i:j] = values
        self._times[i:j] = 0.0 if times is None else times
        if epochs is not None:
            self._epoch_array()[i:j] = epochs
        elif self._epochs is not None:
            self._epochs[i:j] = 0
        self._smoothed[i:j] = smoothed
        self._n = j
        xs = steps.astype(np.float64)
        self._raw_cols.add_arrays(xs, values)
        self._smooth_cols.add_arrays(xs, smoothed)

    def append_point(self, point: MetricPoint) -> None:
        """Add a :class:`MetricPoint` (its name is not checked)."""
        self.append(point.step, point.value, point.time, point.epoch)

    def extend(self, points: Iterable[MetricPoint]) -> None:
        for p in points:
            self.append(p.step, p.value, p.time, p.epoch)

    def _view(self, arr: np.ndarray) -> np.ndarray:
        v = arr[: self._n]
        v.flags.writeable = False
        return v

    @property
    def steps(self) -> np.ndarray:
        return self._view(self._steps)

    @property
    def values(self) -> np.ndarray:
        return self._view(self._values)

    @property
    def times(self) -> np.ndarray:
        return self._view(self._times)

    @property
    def epochs(self) -> np.ndarray:
        return self._view(self._epoch_array())

    @property
    def smoothed(self) -> np.ndarray:
        """The values smoothed with :func:`ema` at the current ``smoothing``."""
        return self._view(self._smoothed)

    @property
    def smoothing(self) -> float:
        return self._smoothing

    @smoothing.setter
    def smoothing(self, w: float) -> None:
        if not 0.0 <= w <= 1.0:
            raise ValueError(f"smoothing must be between 0 and 1, not {w!r}")
        self._smoothing = float(w)
        self._ema = EmaState(self._smoothing)
        values = self.values
        self._smoothed[: self._n] = ema(values, self._smoothing) if self._n else values
        # Bring the incremental state to where the batch computation ended, so later
        # appends continue the same average.
        finite = values[np.isfinite(values)]
        if finite.size and self._smoothing < 1.0:
            self._ema.num_accum = int(finite.size)
            self._ema.last = float(self._smoothed[: self._n][np.isfinite(values)][-1]) * (
                1.0 - self._smoothing**finite.size
            )
        elif finite.size:
            self._ema.num_accum = int(finite.size)
        self._smooth_cols = ColumnAggregate()
        self._smooth_cols.add_arrays(self.steps, self.smoothed)

    @property
    def last(self) -> float | None:
        """The latest value, or None before the first point."""
        return float(self._values[self._n - 1]) if self._n else None

    @property
    def last_step(self) -> int | None:
        return int(self._steps[self._n - 1]) if self._n else None

    def best(self, mode: str = "min") -> float | None:
        """The smallest (``mode="min"``) or largest finite value, or None."""
        v = self.values
        v = v[np.isfinite(v)]
        if v.size == 0:
            return None
        return float(v.min() if mode == "min" else v.max())

    def plot_points(
        self, width: int, smoothed: bool = False, x_range: tuple[float, float] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """At most ``2 * width`` (step, value) points: each column's min and max (columns
        cut from ``x_range``, in steps, when given).

        The cost depends on ``width`` and the aggregate's fixed capacity, not on the
        number of points. Non-finite values are left out.
        """
        cols = self._smooth_cols if smoothed else self._raw_cols
        return cols.columns(width, x_range)


class RunMetrics:
    """Every metric of one run, one :class:`MetricSeries` per name.

    The monitor's drain timer calls ``add(trainer.buffer.drain())`` (or
    ``add(reader.read())`` when following a run directory) and plots
    ``metrics["train/loss"].plot_points(width)``.
    """

    def __init__(self, smoothing: float = 0.6) -> None:
        self._smoothing = smoothing
        self.series: dict[str, MetricSeries] = {}

    def add(self, points: Iterable[MetricPoint]) -> int:
        """Append points to the series of their names; returns how many were added."""
        count = 0
        for p in points:
            s = self.series.get(p.name)
            if s is None:
                s = self.series[p.name] = MetricSeries(p.name, self._smoothing)
            s.append(p.step, p.value, p.time, p.epoch)
            count += 1
        return count

    def __getitem__(self, name: str) -> MetricSeries:
        return self.series[name]

    def __contains__(self, name: object) -> bool:
        return name in self.series

    def get(self, name: str) -> MetricSeries | None:
        return self.series.get(name)

    @property
    def names(self) -> list[str]:
        return list(self.series)

    @property
    def smoothing(self) -> float:
        return self._smoothing

    @smoothing.setter
    def smoothing(self, w: float) -> None:
        """Set the EMA weight of every series (each recomputes once)."""
        if not 0.0 <= w <= 1.0:
            raise ValueError(f"smoothing must be between 0 and 1, not {w!r}")
        self._smoothing = float(w)
        for s in self.series.values():
            s.smoothing = w
