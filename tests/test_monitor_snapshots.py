"""SVG snapshots of the training monitor (F4) at 80x24 and 120x40.

A finished run's progress line shows samples/s (a measured speed), so it differs from one
run to the next: the run snapshot uses a run that fails at once (a model with no
trainable parameters), whose progress line has no measured figures, and a fixed clock for
the run's folder name."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from conftest import TIMEOUT_S, run_code, wait_engine
from textual.pilot import Pilot
from textual.widgets import DataTable, Input

import tui.core.runs
from tui.app import DltuiApp
from tui.core.history import History
from widgets.train_monitor import MonitorPane


class _FixedClock(datetime):
    @classmethod
    def now(cls, tz=None):  # type: ignore[no-untyped-def, override]
        return datetime(2026, 1, 2, 3, 4, 5)


def make(tmp_path: Path) -> DltuiApp:
    return DltuiApp(device="cpu", workspace=tmp_path, history=History(tmp_path / "h.jsonl"))


async def poll(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


async def settle(pilot: Pilot) -> None:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.wait_for_scheduled_animations()


async def empty_monitor(pilot: Pilot) -> None:
    await wait_engine(pilot)
    await pilot.press("f4")
    pane = pilot.app.query_one(MonitorPane)
    await poll(pilot, lambda: pane.plot is not None and pane.plot.draws > 0, "the plot")
    await settle(pilot)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_monitor_before_any_run(
    snap_compare, no_cursor_blink, tmp_path: Path, size: tuple[int, int]
) -> None:
    assert snap_compare(make(tmp_path), terminal_size=size, run_before=empty_monitor)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_monitor_after_a_failed_run(
    snap_compare,
    no_cursor_blink,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    size: tuple[int, int],
) -> None:
    monkeypatch.setattr(tui.core.runs, "datetime", _FixedClock)

    async def failed_run(pilot: Pilot) -> None:
        app = pilot.app
        await run_code(pilot, app, "frozen = nn.Linear(2, 2).requires_grad_(False)")  # type: ignore[arg-type]
        await pilot.press("f4")
        pane = app.query_one(MonitorPane)
        await poll(pilot, lambda: pane.plot is not None, "the plot")
        for name, value in {"model": "frozen", "data": "spirals:n=200", "epochs": "3"}.items():
            app.query_one(f"#train-{name}", Input).value = value
        pane.focus_default()
        await pilot.press("s")
        await poll(pilot, lambda: pane.trainer is not None, "the run")
        await poll(pilot, lambda: pane._last_state == "failed", "the failure reported")
        table = app.query_one("#runs", DataTable)
        await poll(
            pilot,
            lambda: table.row_count == 1 and table.get_row_at(0)[1] == "failed",
            "the failed run listed",
        )
        await settle(pilot)

    assert snap_compare(make(tmp_path), terminal_size=size, run_before=failed_run)
