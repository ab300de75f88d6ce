"""Following runs from their files, for the monitor: a watched run, an overlaid past run.

No Textual here, only the engine's readers: what ``dltui watch`` shows each drain (new
points, the progress line, the steps per epoch) and the settings of the watched run for
the form; and a past run's train-loss curve for ``c`` (compare), or one line saying why
there is none. The readers never raise on damaged files (``tui.core.train.readers``), so
neither does anything here: a bad run shows what can be read of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tui.core.text import first_line
from tui.core.train.progress import watch_text
from tui.core.train.readers import METRICS, MetricsReader, live_state, read_config, read_status
from tui.core.train.series import MetricPoint, MetricSeries
from tui.core.train.settings import form_from_config

__all__ = ["WatchPoll", "load_overlay", "poll_watched", "watched_form"]


@dataclass(frozen=True)
class WatchPoll:
    """One drain of a watched run."""

    points: list[MetricPoint]
    text: str  # the progress line
    steps_per_epoch: int | None


def poll_watched(reader: MetricsReader, run_dir: Path, train: MetricSeries) -> WatchPoll:
    """The points added since the last poll and the run's progress line; ``train`` is
    the series the points of ``train/loss`` go into (read for the line's step and loss)."""
    points = reader.read()
    status = read_status(run_dir)
    last = max((p.step for p in points if p.name == "train/loss"), default=train.last_step or 0)
    value = next((p.value for p in reversed(points) if p.name == "train/loss"), train.last)
    text = watch_text(
        run_dir.name,
        live_state(status) if status else None,
        last,
        value,
        (status or {}).get("error"),
    )
    if reader.skipped:
        text += f" ({reader.skipped} unreadable metric line{'s' if reader.skipped > 1 else ''})"
    return WatchPoll(points, text, (status or {}).get("steps_per_epoch"))


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
