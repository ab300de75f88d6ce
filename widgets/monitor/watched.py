"""What ``dltui watch PATH...`` shows: the runs found, their series per tag, the choices.

No Textual here. A :class:`WatchedRuns` wraps the engine's
:class:`~tui.core.train.sources.follow.SourceFollower` (polled on a worker thread) and
keeps, on the UI thread, one :class:`~tui.core.train.series.MetricSeries` per run and
tag, fed with the compact arrays the follower hands out in bounded batches. It also holds
what the user chose: the tags the plot shows (``train/loss`` or the first tag seen until
one is picked), a regex over run names, and the runs hidden with ``c``. From these it
builds the plot's lines and the runs list's rows.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from tui.core.text import number_text
from tui.core.train.series import MetricSeries
from tui.core.train.sources.follow import Batch, RunRow, SourceFollower
from tui.core.train.sources.tags import compile_filter

__all__ = [
    "DEFAULT_TAG",
    "MAX_POINTS_PER_DRAIN",
    "TableRow",
    "WatchedRuns",
    "age_text",
    "scales_agree",
]

DEFAULT_TAG = "train/loss"
MAX_POINTS_PER_DRAIN = 50_000  # vectorised appends: ~10-20 ms on a busy 2-core machine


def age_text(seconds: float | None) -> str:
    """``3s``, ``2m``, ``5h``, ``4d``; ``-`` when unknown."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size:
            return f"{s // size}{unit}"
    return f"{s}s"


@dataclass(frozen=True)
class TableRow:
    """One row of the runs list, as text."""

    key: str
    name: str
    kind: str
    status: str
    step: str
    value: str
    updated: str
    shown: str


SCALE_FACTOR = 20.0  # typical sizes further apart than this do not share an axis


def scales_agree(a: float | None, b: float | None) -> bool:
    """Whether two tags' typical sizes can share one y axis (unknown sizes do)."""
    if a is None or b is None:
        return True
    lo, hi = sorted((abs(a), abs(b)))
    if hi == 0.0:
        return True
    return lo > 0.0 and hi / lo <= SCALE_FACTOR


class WatchedRuns:
    """The runs under the watched paths and the user's choices (module docstring)."""

    def __init__(self, follower: SourceFollower, smoothing: float = 0.6) -> None:
        self.follower = follower
        self.smoothing = smoothing
        self.series: dict[str, dict[str, MetricSeries]] = {}  # run -> tag -> series
        self.rows: list[RunRow] = []
        self.tags: list[str] = []  # the plot's; empty until the first tag is seen
        self.picked = False  # the user chose tags: no default any more
        self.run_filter = ""
        self.hidden: set[str] = set()
        self._all_tags: dict[str, None] = {}

    # -- fed by the drain --
    def apply(self, batch: Batch) -> bool:
        """Add a batch's points; True when a shown line changed (the plot redraws)."""
        if batch.rows is not None:
            self.rows = batch.rows
            for row in batch.rows:
                for tag in row.tags:
                    self._all_tags.setdefault(tag, None)
        changed = False
        for run, tag, pts in batch.points:
            self._all_tags.setdefault(tag, None)
            by_tag = self.series.setdefault(run, {})
            series = by_tag.get(tag)
            if series is None:
                series = by_tag[tag] = MetricSeries(f"{run} {tag}", self.smoothing)
            series.extend_arrays(pts.steps, pts.values, pts.times)
            changed = changed or (tag in self.tags and self.run_shown(run))
        if not self.picked and not self.tags and self._all_tags:
            first = next(iter(self._all_tags))
            self.tags = [DEFAULT_TAG if DEFAULT_TAG in self._all_tags else first]
            changed = True
        return changed

    # -- choices --
    @property
    def all_tags(self) -> list[str]:
        """Every tag seen in any run, in first-seen order."""
        return list(self._all_tags)

    def runs_with(self, tag: str) -> int:
        return sum(1 for by_tag in self.series.values() if tag in by_tag)

    def pick(self, tag: str) -> None:
        """Show ``tag`` alone."""
        self.tags, self.picked = [tag], True

    def toggle(self, tag: str) -> str | None:
        """Add ``tag`` to the plot, or take it out (the last one stays). A tag whose
        values do not share a scale with the plotted ones is not added: the line says
        why (a loss near 0.5 and a learning rate near 0.001 on one axis make one of them
        a flat line at the bottom)."""
        self.picked = True
        if tag in self.tags:
            if len(self.tags) > 1:
                self.tags.remove(tag)
            return None
        scale = self.scale_of(tag)
        for other in self.tags:
            theirs = self.scale_of(other)
            if not scales_agree(scale, theirs):
                return (
                    f"{tag} (~{scale:.3g}) and {other} (~{theirs:.3g}) do not share a scale: "
                    f"t plots {tag} alone"
                )
        self.tags.append(tag)
        return None

    def scale_of(self, tag: str) -> float | None:
        """The typical size of ``tag``'s values over the runs: the median of |value|."""
        parts = [
            by_tag[tag].values
            for by_tag in self.series.values()
            if tag in by_tag and len(by_tag[tag])
        ]
        if not parts:
            return None
        values = np.abs(np.concatenate(parts))
        values = values[np.isfinite(values)]
        return float(np.median(values)) if values.size else None

    def set_filter(self, pattern: str) -> str | None:
        """Filter runs by name (a regex); returns the error line of a bad pattern."""
        _, error = compile_filter(pattern)
        if error is None:
            self.run_filter = pattern
        return error

    def toggle_hidden(self, run: str) -> None:
        self.hidden.symmetric_difference_update({run})

    def matches(self, run: str) -> bool:
        """Whether the run-name filter keeps ``run``."""
        rx, _ = compile_filter(self.run_filter)
        return rx is None or rx.search(run) is not None

    def run_shown(self, run: str) -> bool:
        """Whether ``run``'s lines are on the plot (kept by the filter, not hidden)."""
        return run not in self.hidden and self.matches(run)

    def set_smoothing(self, smoothing: float) -> None:
        self.smoothing = smoothing
        for by_tag in self.series.values():
            for series in by_tag.values():
                series.smoothing = smoothing

    # -- what is shown --
    def lines(self) -> dict[str, MetricSeries]:
        """The plot's lines, labelled: the chosen tags of every shown run."""
        out: dict[str, MetricSeries] = {}
        several_tags = len(self.tags) > 1
        shown = [r.name for r in self.rows if self.run_shown(r.name)]
        for run in shown:
            for tag in self.tags:
                series = self.series.get(run, {}).get(tag)
                if series is not None and len(series):
                    label = run if not several_tags else f"{run} {tag}"
                    if len(shown) == 1 and several_tags:
                        label = tag
                    out[label] = series
        return out

    def table(self, now: float | None = None) -> list[TableRow]:
        """The runs list's rows (runs the filter hides left out)."""
        now = time.time() if now is None else now
        tag = self.tags[0] if self.tags else None
        out = []
        for r in self.rows:
            if not self.matches(r.name):
                continue
            series = self.series.get(r.name, {}).get(tag) if tag else None
            plotted = series is not None and len(series) and r.name not in self.hidden
            out.append(
                TableRow(
                    key=r.name,
                    name=r.name,
                    kind=r.kind,
                    status=r.state.value,
                    step="-" if r.last_step is None else str(r.last_step),
                    value=number_text(series.last) if series is not None else "-",
                    updated=age_text(None if r.last_update is None else now - r.last_update),
                    shown="✓" if plotted else "",
                )
            )
        return out

    def summary(self) -> str:
        """The progress line: how many runs, in which states, what the plot shows."""
        states: dict[str, int] = {}
        for r in self.rows:
            states[r.state.value] = states.get(r.state.value, 0) + 1
        counts = ", ".join(f"{n} {s}" for s, n in states.items())
        runs = f"{len(self.rows)} run{'s' if len(self.rows) != 1 else ''}"
        text = f"watching {runs}" + (f" ({counts})" if counts else ": none found yet")
        if self.tags:
            text += f"  tag {', '.join(self.tags)}"
        if self.run_filter:
            text += f"  filter /{self.run_filter}/"
        return text + "  (t tag, / filter)"
