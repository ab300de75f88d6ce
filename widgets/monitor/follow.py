"""Following runs from their files, for the monitor: a watched run, an overlaid past run.

No Textual here, only the engine's readers: what ``dltui watch`` shows each drain (new
points, the progress line, the steps per epoch) and the settings of the watched run for
the form; and a past run's train-loss curve for ``c`` (compare), or one line saying why
there is none. The readers never raise on damaged files (``tui.core.train.readers``), so
neither does anything here: a bad run shows what can be read of it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tui.core.text import first_line
from tui.core.train.progress import watch_text
from tui.core.train.readers import (
    METRICS,
    MetricArrays,
    MetricsReader,
    live_state,
    read_config,
    read_status,
)
from tui.core.train.series import MetricSeries
from tui.core.train.settings import form_from_config

__all__ = ["WatchPoll", "load_overlay", "poll_watched", "watched_form"]


# Bytes of metrics.jsonl read per drain (~20,000 lines, ~0.1 s of parsing): a long run's
# backlog is read over several drains, so the UI thread never stalls on it.
WATCH_CHUNK = 2 << 20
WATCH_BUDGET_S = 0.05  # read more chunks in one drain while under this


@dataclass(frozen=True)
class WatchPoll:
    """One drain of a watched run."""

    arrays: dict[str, MetricArrays]  # the new points of each metric
    text: str  # the progress line
    steps_per_epoch: int | None
    more: bool = False  # the file has more to read (drain again soon)


def poll_watched(reader: MetricsReader, run_dir: Path, train: MetricSeries) -> WatchPoll:
    """The points added since the last poll (a bounded amount) and the run's progress
    line; ``train`` is the series of ``train/loss`` (its last step and loss, for the line,
    when this poll brought none)."""
    arrays: dict[str, list[MetricArrays]] = {}
    started = time.monotonic()
    while True:  # one chunk, then more while this drain's budget lasts
        offset = reader.offset
        got = reader.read_arrays(max_bytes=WATCH_CHUNK)
        for name, a in got.items():
            arrays.setdefault(name, []).append(a)
        more = reader.offset != offset and _has_more(reader)
        if not more or time.monotonic() - started >= WATCH_BUDGET_S:
            break
    merged = {name: _concat(parts) for name, parts in arrays.items()}
    status = read_status(run_dir)
    loss = merged.get("train/loss")
    if loss is not None and len(loss.steps):
        last, value = int(loss.steps.max()), float(loss.values[-1])
    else:
        last, value = train.last_step or 0, train.last
    text = watch_text(
        run_dir.name,
        live_state(status) if status else None,
        last,
        value,
        (status or {}).get("error"),
    )
    if reader.skipped:
        text += f" ({reader.skipped} unreadable metric line{'s' if reader.skipped > 1 else ''})"
    return WatchPoll(merged, text, (status or {}).get("steps_per_epoch"), more)


def _has_more(reader: MetricsReader) -> bool:
    try:
        return os.path.getsize(reader.path) > reader.offset
    except OSError:
        return False


def _concat(parts: list[MetricArrays]) -> MetricArrays:
    if len(parts) == 1:
        return parts[0]
    return MetricArrays(*(np.concatenate(column) for column in zip(*parts, strict=True)))


def watched_form(run_dir: Path) -> dict[str, str]:
    """The watched run's settings (its config.json), as the form's text."""
    return form_from_config(read_config(run_dir))


def load_overlay(path: Path, smoothing: float) -> tuple[MetricSeries, str | None]:
    """A past run's train-loss curve, and a one-line reason when it has none to show."""
    series = MetricSeries(path.name, smoothing)
    reader = MetricsReader(path / METRICS)
    try:
        points = reader.read_all()
    except Exception as exc:  # the reader tolerates bad lines; this is for the unforeseen
        return series, f"{path.name} cannot be read: {first_line(exc)}"
    for p in points:
        if p.name == "train/loss":
            series.append_point(p)
    if len(series):
        return series, None
    why = "has no metrics.jsonl" if not (path / METRICS).is_file() else "has no train/loss points"
    if reader.skipped:
        why += f" ({reader.skipped} unreadable lines skipped)"
    return series, f"{path.name} {why}: nothing to overlay"
