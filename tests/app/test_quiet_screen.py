"""While a run trains behind another pane, only the status line repaints (issue 9).

The REPL screen used to redraw 34 of 40 rows four times a second: every drain updated
the hidden monitor's progress text with ``Static.update()``, whose default layout made
Textual repaint the REPL output's scrollbar (its whole height), and the status line did
the same. These tests count the refreshes the widgets ask for while a fake trainer's
progress moves; they never measure a time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import wait_engine
from textual.app import App, ComposeResult
from textual.widget import Widget
from textual.widgets import Static

from tui.app import DltuiApp
from tui.core.repl.history import History
from tui.core.train.config import RunState
from tui.core.train.progress import TrainProgress
from tui.core.train.series import MetricPoint
from widgets.common.status_line import StatusLine
from widgets.common.text_update import set_text
from widgets.monitor.pane import MonitorPane


@dataclass
class FakeBuffer:
    points: list[MetricPoint] = field(default_factory=list)

    def drain(self) -> list[MetricPoint]:
        out, self.points = self.points, []
        return out


@dataclass
class FakeTrainer:
    """What the monitor's drain reads of a trainer: its buffer and its progress."""

    buffer: FakeBuffer = field(default_factory=FakeBuffer)
    progress: TrainProgress = field(default_factory=TrainProgress)

    @property
    def state(self) -> RunState:
        return self.progress.state

    def advance(self, step: int) -> None:
        self.buffer.points.append(MetricPoint(step, 1, float(step), "train/loss", 1.0 / step))
        self.progress = TrainProgress(
            state=RunState.RUNNING,
            epoch=1,
            epochs=10,
            step=step,
            steps_per_epoch=1000,
            total_steps=10_000,
            train_loss=1.0 / step,
        )


def make(tmp_path: Path) -> DltuiApp:
    return DltuiApp(device="cpu", workspace=tmp_path, history=History(tmp_path / "h.jsonl"))


async def test_hidden_monitor_repaints_only_the_status_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        await pilot.press("f4")
        await pilot.pause()
        pane = app.query_one(MonitorPane)
        trainer = FakeTrainer()
        trainer.advance(1)
        pane.trainer = trainer  # type: ignore[assignment]
        pane.series = pane._new_series()
        pane._drain()
        await pilot.press("f2")
        await pilot.pause()
        assert not pane.display
        draws = pane.plot.draws if pane.plot else 0

        refreshes: Counter[tuple[str, bool]] = Counter()
        real_refresh = Widget.refresh

        def counting(self: Widget, *regions: object, **kwargs: bool) -> Widget:
            refreshes[(type(self).__name__, bool(kwargs.get("layout")))] += 1
            return real_refresh(self, *regions, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(Widget, "refresh", counting)
        for step in range(2, 12):
            trainer.advance(step)
            pane._summary_at = 0.0  # as if a second had passed since the last summary
            pane._drain()
            await pilot.pause()
        monkeypatch.undo()

        # The points are kept for the plot, but nothing of the hidden pane is drawn.
        assert len(pane.series["train/loss"]) == 11
        assert (pane.plot.draws if pane.plot else 0) == draws
        assert refreshes, "the status line should have shown the progress"
        assert {name for name, _ in refreshes} == {"StatusLine"}, refreshes
        assert not any(layout for _, layout in refreshes), refreshes
        assert "loss 0.0909" in str(app.query_one(StatusLine).render())

        # Shown again, the monitor catches up at once.
        await pilot.press("f4")
        await pilot.pause()
        assert pane.plot is not None and pane.plot.draws > draws
        progress = str(app.query_one("#train-progress", Static).render())
        assert "step 11/10000" in progress


class _LineApp(App[None]):
    """One fixed-size line, as the status line is, and nothing else writing to it (the
    real status line's spinner and system feed update it on their own timers)."""

    CSS = "#line { height: 1; width: 40; }"

    def compose(self) -> ComposeResult:
        yield Static("", id="line")


async def test_set_text_skips_the_same_text_and_layout_of_a_fixed_line() -> None:
    app = _LineApp()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        line = app.query_one("#line", Static)
        assert set_text(line, "one")
        await pilot.pause()
        assert not set_text(line, "one")
        assert set_text(line, "two")
        assert not line._layout_required  # one row, whatever its text: no layout
