"""SVG snapshots of the training monitor (F4) at 80x24 and 120x40.

A finished run's progress line shows samples/s (a measured speed), so it differs from one
run to the next: besides the empty pane, the snapshot shows a start refused in plain
words (a model with no trainable parameters), which has no measured figures."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TIMEOUT_S, run_code, wait_engine
from textual.pilot import Pilot
from textual.widgets import Input, Static

from tui.app import DltuiApp
from tui.core.repl.history import History
from widgets.monitor.pane import MonitorPane


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
    snap_compare, no_cursor_blink, fixed_torch_version, tmp_path: Path, size: tuple[int, int]
) -> None:
    assert snap_compare(make(tmp_path), terminal_size=size, run_before=empty_monitor)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_monitor_refuses_a_model_with_nothing_to_train(
    snap_compare,
    no_cursor_blink,
    fixed_torch_version,
    tmp_path: Path,
    size: tuple[int, int],
) -> None:
    async def refused(pilot: Pilot) -> None:
        app = pilot.app
        await run_code(pilot, app, "frozen = nn.Linear(2, 2).requires_grad_(False)")  # type: ignore[arg-type]
        await pilot.press("f4")
        pane = app.query_one(MonitorPane)
        await poll(pilot, lambda: pane.plot is not None, "the plot")
        for name, value in {"model": "frozen", "data": "spirals:n=200", "epochs": "3"}.items():
            app.query_one(f"#train-{name}", Input).value = value
        pane.focus_default()
        await pilot.press("s")
        message = app.query_one("#train-message", Static)
        await poll(
            pilot,
            lambda: "no trainable parameters" in str(message.render()),
            "the refusal",
        )
        assert message.has_class("-error") and pane.trainer is None
        assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
        await settle(pilot)

    assert snap_compare(make(tmp_path), terminal_size=size, run_before=refused)
