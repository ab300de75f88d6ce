"""The monitor's loss plot (textual-plotext), redrawn from bounded data only.

plotext's ``build()`` costs ~9 ms for 10^3 points but seconds for 10^6, so the plot is
never handed raw series: train loss comes as per-column min/max points (``MetricSeries``
keeps them incrementally, so a redraw costs the same at step 100 as at step 10^6),
validation points are one per epoch. Imported lazily: plotext is not needed for the
first frame.

Log scale is done here, not by plotext: plotext's own ``yscale("log")`` transforms its
stored data in place at every ``build()``, so a re-render without new data (a resize)
took the log of a log and raised "math domain error". The plot is handed log10 of the
positive values on a linear axis, with ticks labelled in the original units. A redraw
builds the figure at once and repaints only the rows whose text changed. A render or
draw error is shown inside the plot and never raised out of the compositor: the app and
the run go on.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import RenderResult
from textual.geometry import Region, Size
from textual.strip import Strip
from textual_plotext import PlotextPlot

from tui.core.text import compact_count, first_line
from tui.core.train.series import MetricSeries, downsample_minmax, drop_nonpositive
from widgets.monitor.ansi_rows import ansi_rows, changed_span, row_text

OVERLAY_COLORS = ["magenta", "green", "yellow", "blue", "red"]
_RED = Style(color="red")


@dataclass
class PlotData:
    """What one redraw needs; built on the UI thread from the drained series."""

    train: MetricSeries | None
    val: MetricSeries | None
    accuracy: MetricSeries | None
    steps_per_epoch: int = 1
    overlays: dict[str, MetricSeries] = field(default_factory=dict)


class LossPlot(PlotextPlot):
    """Raw train loss faint, EMA-smoothed line, validation loss per epoch, accuracy."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.xaxis = "step"  # step | epoch | time (since each run's start) | wall (clock)
        self.logy = False
        self.draws = 0
        self.error: str | None = None  # the last draw's or render's error, shown instead
        self._y_range: tuple[float, float] | None = None  # of the left axis's data (log10)
        # Axis bounds held from draw to draw while the data stays inside them (steady_range),
        # keyed by axis: "x step", "x time", ..., "y lin", "y log", "y acc".
        self._held: dict[str, tuple[float, float]] = {}
        self._x_range: tuple[float, float] | None = None  # of everything drawn, for ticks
        self._wall0 = 0.0  # the x origin of wall-clock time: the earliest point drawn
        # The last figure built: (size, its rows as segments, those rows as Strips).
        # draw() compares rows with it, to repaint only the cells that changed;
        # render_line hands Textual the strips (no Text re-rendered at each repaint).
        self._built: tuple[Size, list[list[Segment]], list[Strip]] | None = None
        self._error_strips: tuple[Size, str, list[Strip]] | None = None
        # The bottom row, drawn here and not by plotext: the legend on the left, the x
        # axis's name on the right. plotext's own legend sits over the data and, with a
        # right axis in use, prefixes each entry with side glyphs (``L ▞▞ val``).
        self._legend: list[tuple[str, str]] = []  # (label, colour)
        self._xname = "step"

    def _build(self) -> list[list[Segment]]:
        """Build the figure at the widget's size (what PlotextPlot.render does), with
        the legend row under it."""
        width, height = self.size
        plot_height = max(1, height - 1)
        self._plot.plotsize(width, plot_height)
        self._plot._set_size(width, plot_height)  # PlotextPlot's belt and braces, kept
        self._plot.theme(self._get_plotext_theme_name(self.app.theme))
        ansi = self._plot.build().removesuffix("\n")  # plotext ends every row with one
        rows = ansi_rows(ansi)
        if height > 1:
            legend = legend_row(self._legend, self._xname, width)
            rows.append(list(legend.render(self.app.console)))
        # Under the figure's own colours, the widget's style (what Textual puts under a
        # render()'s Text): the legend row has no background of its own.
        base = self.rich_style
        strips = [Strip(row).adjust_cell_length(width).apply_style(base) for row in rows[:height]]
        self._built = (self.size, rows, strips)
        return rows

    def _ensure_built(self) -> list[Strip] | None:
        """The figure's strips at the current size (built on a resize or the first
        paint), or None after an error (then ``self.error`` says which)."""
        if self.error is None:
            try:
                if self._built is None or self._built[0] != self.size:
                    self._build()
                assert self._built is not None
                return self._built[2]
            except Exception as exc:  # plotext's, on data or sizes it cannot handle
                self.error = f"{type(exc).__name__}: {first_line(exc)}"
        return None

    def render_line(self, y: int) -> Strip:
        """One row of the last figure built (the Line API: Textual asks for the rows it
        repaints, and nothing is re-rendered for them)."""
        self._dirty_regions.clear()  # Widget.render_line's cache is not used here
        width = self.size.width
        try:
            strips = self._ensure_built()
            if strips is None:
                strips = self._error_lines()
            return strips[y] if y < len(strips) else Strip.blank(width)
        except Exception as exc:  # a render error stays in this widget
            return Strip([Segment(f"(plot row failed: {first_line(exc)})"[:width], _RED)])

    def _error_lines(self) -> list[Strip]:
        key = (self.size, self.error or "")
        if self._error_strips is None or self._error_strips[:2] != key:
            lines = self.app.console.render_lines(
                self._error_text(), self.app.console.options.update_width(self.size.width)
            )
            self._error_strips = (*key, [Strip(line) for line in lines])
        return self._error_strips[2]

    def _error_text(self) -> Text:
        return Text(
            f"the plot could not be drawn ({self.error}); the run goes on. "
            "l toggles log-y, a changes the x axis",
            style="red",
        )

    def render(self) -> RenderResult:
        """The figure as Text (what the rows show; render_line paints them)."""
        strips = self._ensure_built()
        if strips is None or self._built is None:
            return self._error_text()
        return Text("\n").join(row_text(row) for row in self._built[1])

    def _x(self, series: MetricSeries, xs: np.ndarray, spe: int) -> np.ndarray:
        if self.xaxis == "epoch":
            return xs / max(1, spe)
        return xs

    def _points(
        self,
        series: MetricSeries,
        width: int,
        smoothed: bool,
        spe: int,
        axis: tuple[float, float] | None = None,
        t0: float | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.xaxis in ("time", "wall"):
            # Time is not linear in steps: min/max over the whole series (O(n) in NumPy,
            # a few ms for 10^6 points), still handing plotext at most 2 points a column.
            # Relative time starts each run at 0 (``t0``: the run's own start, for the
            # validation series of a run); wall-clock time keeps runs side by side.
            if self.xaxis == "wall":
                t0 = self._wall0
            elif t0 is None:
                t0 = series.times[0] if len(series) else 0.0
            ys = series.smoothed if smoothed else series.values
            return downsample_minmax(series.times - t0, ys, width, axis)
        if axis is not None and self.xaxis == "epoch":
            axis = (axis[0] * max(1, spe), axis[1] * max(1, spe))  # in steps, as the series
        xs, ys = series.plot_points(width, smoothed=smoothed, x_range=axis)
        return self._x(series, np.asarray(xs, dtype=float), spe), np.asarray(ys, dtype=float)

    def _x_extent(self, series: MetricSeries, spe: int) -> tuple[float, float] | None:
        """The x range ``_points`` will give ``series``, in axis units."""
        if not len(series):
            return None
        if self.xaxis in ("time", "wall"):
            times = series.times[np.isfinite(series.times)]
            if not times.size:
                return None
            t0 = self._wall0 if self.xaxis == "wall" else float(series.times[0])
            return float(times.min()) - t0, float(times.max()) - t0
        steps = series.steps
        lo, hi = float(steps.min()), float(steps.max())
        if self.xaxis == "epoch":
            lo, hi = lo / max(1, spe), hi / max(1, spe)
        return lo, hi

    def _line(self, xs: np.ndarray, ys: np.ndarray, **kwargs: object) -> None:
        if self.logy:
            xs, ys = drop_nonpositive(xs, ys)
            ys = np.log10(ys)
        finite = np.isfinite(ys)
        xs, ys = xs[finite], ys[finite]
        if len(ys):  # the left axis's data range (log10 of it on a log axis)
            lo, hi = float(ys.min()), float(ys.max())
            if self._y_range is not None:
                lo, hi = min(lo, self._y_range[0]), max(hi, self._y_range[1])
            self._y_range = (lo, hi)
        if len(xs):
            self._see_x(xs)
            self.plt.plot(xs.tolist(), ys.tolist(), **kwargs)

    def _see_x(self, xs: np.ndarray) -> None:
        lo, hi = float(np.min(xs)), float(np.max(xs))
        if self._x_range is not None:
            lo, hi = min(lo, self._x_range[0]), max(hi, self._x_range[1])
        self._x_range = (lo, hi)

    def draw(self, data: PlotData) -> None:
        """Rebuild the figure from ``data``; an error is kept and shown by render."""
        try:
            self._draw(data)
            self.error = None
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {first_line(exc)}"
        self.draws += 1
        self._repaint_changed()

    def _repaint_changed(self) -> None:
        """Repaint only the cells that changed since the last figure: over SSH a whole
        plot is several KB, a new point usually moves a few cells of a few rows."""
        old = self._built
        if self.error is not None or old is None or old[0] != self.size or not self.size:
            self._built = None
            self.refresh()
            return
        try:
            rows = self._build()
        except Exception as exc:  # shown in the plot's place, as a render's own error
            self.error = f"{type(exc).__name__}: {first_line(exc)}"
            self.refresh()
            return
        if len(rows) != len(old[1]):
            self.refresh()
            return
        width = self.size.width
        for y, (before, after) in enumerate(zip(old[1], rows, strict=True)):
            if before != after:
                x0, x1 = changed_span(before, after, width)
                self.refresh(Region(x0, y, x1 - x0, 1))

    def _draw(self, data: PlotData) -> None:
        plt = self.plt
        self._y_range = None
        self._x_range = None
        plt.clear_data()
        plt.clear_figure()
        width = max(10, self.size.width - 12)
        spe = data.steps_per_epoch
        self._wall0 = _earliest_time([data.train, data.val, *data.overlays.values()])
        self._xname = {"step": "step", "epoch": "epoch", "time": "seconds", "wall": "clock time"}[
            self.xaxis
        ]
        self._legend = []
        has_data = False
        # Steady axes: the x bounds (and so the columns the points are binned into) hold
        # while the data stays inside, so a new point redraws the last columns, not all.
        extents = [
            e
            for e in (self._x_extent(s, spe) for s in [data.train, *data.overlays.values()] if s)
            if e is not None
        ]
        axis = None
        if extents:
            lo, hi = min(e[0] for e in extents), max(e[1] for e in extents)
            axis = self._steady(f"x {self.xaxis}", lo, hi, X_HEADROOM)
        for i, (name, series) in enumerate(data.overlays.items()):
            if len(series):
                xs, ys = self._points(series, width, True, spe, axis)
                color = OVERLAY_COLORS[i % len(OVERLAY_COLORS)]
                self._line(xs, ys, color=color)
                self._legend.append((name[:24], color))
                has_data = True
        if data.train is not None and len(data.train):
            xs, ys = self._points(data.train, width, False, spe, axis)
            self._line(xs, ys, color="gray", marker="dot")
            xs, ys = self._points(data.train, width, True, spe, axis)
            self._line(xs, ys, color="cyan")
            self._legend.append(("train (smoothed)", "cyan"))
            has_data = True
        # Validation and accuracy have a point per evaluation: thousands in a long run of
        # short epochs. They are reduced to each column's min and max like the train loss
        # (plotext's cost grows with the points it is handed, and this is the UI thread).
        run_t0 = data.train.times[0] if data.train is not None and len(data.train) else 0.0
        if data.val is not None and len(data.val):
            xs, ys = self._points(data.val, width, False, spe, axis, t0=run_t0)
            self._line(xs, ys, color="orange", marker="hd")
            self._legend.append(("val", "yellow"))  # plotext's "orange" is ANSI colour 3
        if data.accuracy is not None and len(data.accuracy):
            xs, ys = self._points(data.accuracy, width, False, spe, axis, t0=run_t0)
            if len(xs):
                self._see_x(xs)
            acc = ys[np.isfinite(ys)]
            if acc.size:
                lo, hi = self._steady("y acc", float(acc.min()), float(acc.max()), 0.0)
                plt.ylim(lo, hi, yside="right")
            plt.plot(xs.tolist(), ys.tolist(), yside="right", color="green", marker="hd")
            self._legend.append(("val acc (right)", "green"))
        if self._y_range is not None:
            lo, hi = self._steady("y log" if self.logy else "y lin", *self._y_range, 0.0)
            plt.ylim(lo, hi)
            if self.logy:
                ticks, labels = log_ticks(lo, hi)
                plt.yticks(ticks, labels)
        if self._x_range is not None:
            # Points beyond the held axis (validation after the last train step) widen it.
            lo, hi = self._x_range
            if axis is None or lo < axis[0] or hi > axis[1]:
                axis = self._steady(f"x {self.xaxis}", lo, hi, X_HEADROOM)
            self._x_range = axis
            plt.xlim(*axis)
        if self._x_range is not None and self._x_range[1] > self._x_range[0]:
            # plotext's own ticks split the range evenly (1.0 33.2 65.5 ... 250013.5):
            # round 1-2-5 steps read at a glance, large counts as 250k.
            ticks = nice_ticks(*self._x_range)
            if len(ticks) >= 2:
                if self.xaxis == "wall":
                    labels = [clock_label(self._wall0 + t, self._x_range) for t in ticks]
                else:
                    labels = [tick_label(t) for t in ticks]
                plt.xticks(ticks, labels)
        if not has_data:
            plt.title("no data yet: start a run (s) or compare past runs (c)")

    def _steady(self, key: str, lo: float, hi: float, headroom: float) -> tuple[float, float]:
        held = steady_range(lo, hi, self._held.get(key), headroom)
        self._held[key] = held
        return held


X_HEADROOM = 0.5  # room on the right of the x axis for the points to come


def legend_row(entries: list[tuple[str, str]], xname: str, width: int) -> Text:
    """One row: ``━ train (smoothed)  ━ val`` in the lines' colours on the left, the x
    axis's name centred when there is room, else at the right; cut to ``width``, the
    name kept and the legend cut at an entry's end, never mid-word."""
    legend = Text()
    for label, color in entries:
        entry = Text.assemble(("━ ", color), label)
        gap = 2 if legend else 0
        if legend.cell_len + gap + entry.cell_len + 1 + len(xname) > width:
            break
        if legend:
            legend.append("  ")
        legend.append_text(entry)
    name_at = max(legend.cell_len + 1, (width - len(xname)) // 2)
    if name_at + len(xname) > width:
        name_at = max(legend.cell_len + 1, width - len(xname))
    row = legend + Text(" " * (name_at - legend.cell_len)) + Text(xname)
    row.truncate(width)
    return row


def steady_range(
    lo: float, hi: float, held: tuple[float, float] | None = None, headroom: float = 0.0
) -> tuple[float, float]:
    """Axis bounds for data in ``[lo, hi]``: ``held`` while the data is inside it and
    fills at least a third of it, else new bounds on a round 1-2-2.5-5 step, with
    ``headroom`` (a fraction of the span) added above. A plot whose bounds hold repaints
    only where its lines moved."""
    inside = held is not None and held[0] <= lo and hi <= held[1]
    if inside and (hi - lo >= (held[1] - held[0]) / 3 or held[1] - held[0] <= 1e-12):
        return held
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return (lo, hi)
    if hi <= lo:
        pad = abs(lo) * 0.1 or 0.5
        return (lo - pad, hi + pad)
    top = hi + (hi - lo) * headroom
    magnitude = 10.0 ** math.floor(math.log10((top - lo) / 5))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if (top - lo) / (m * magnitude) <= 5)
    return (math.floor(lo / step) * step, math.ceil(top / step) * step)


def _earliest_time(series: list[MetricSeries | None]) -> float:
    firsts = []
    for s in series:
        if s is not None and len(s):
            # A masked min, not a filtered copy: 8 bytes a point less at each redraw.
            t = s.times
            first = float(np.min(t, where=np.isfinite(t), initial=np.inf))
            if math.isfinite(first):
                firsts.append(first)
    return min(firsts) if firsts else 0.0


def clock_label(when: float, x_range: tuple[float, float]) -> str:
    """A wall-clock tick: ``14:05`` over hours, ``14:05:30`` over minutes, the day too
    (``12-01 14:05``) when the plot spans days."""
    span = x_range[1] - x_range[0]
    fmt = "%m-%d %H:%M" if span >= 2 * 86400 else "%H:%M" if span >= 1800 else "%H:%M:%S"
    return time.strftime(fmt, time.localtime(when))


def nice_ticks(lo: float, hi: float, most: int = 5) -> list[float]:
    """Ticks within ``[lo, hi]`` on the finest 1-2-2.5-5 step that gives at most ``most``."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return []
    magnitude = 10.0 ** math.floor(math.log10((hi - lo) / max(1, most)))
    for step in (m * magnitude * 10**k for k in (0, 1, 2) for m in (1, 2, 2.5, 5)):
        first = math.ceil(lo / step - 1e-9)
        last = math.floor(hi / step + 1e-9)
        if last - first + 1 <= most:
            return [k * step for k in range(first, last + 1)]
    return [lo, hi]


def tick_label(value: float) -> str:
    """``250k`` for a whole count, ``0.5`` for a fraction (epochs, seconds)."""
    if abs(value - round(value)) < 1e-9:
        n = round(value)
        return ("-" if n < 0 else "") + compact_count(abs(n))
    return f"{value:.3g}"


def log_ticks(lo: float, hi: float, most: int = 6) -> tuple[list[float], list[str]]:
    """Tick positions on a log10 axis spanning ``[lo, hi]`` and their labels in the
    original units (1e-3 ... 10): whole decades, or 1-2-5 steps within a decade or two."""
    first, last = math.floor(lo), math.ceil(hi)
    if last - first <= 2:
        values = [m * 10.0**k for k in range(first, last + 1) for m in (1, 2, 5)]
        ticks = [math.log10(v) for v in values if lo - 1e-9 <= math.log10(v) <= hi + 1e-9]
        if len(ticks) >= 2:
            return ticks, [f"{10**t:.3g}" for t in ticks]
    step = max(1, math.ceil((last - first + 1) / most))
    ticks = [float(k) for k in range(first, last + 1, step) if lo - 1e-9 <= k <= hi + 1e-9]
    if len(ticks) < 2:  # less than a decade between two ticks: label the ends
        ticks = sorted({lo, hi})
    return ticks, [f"{10.0**t:.3g}" for t in ticks]
