"""Pilot tests of the training monitor pane (F4): start, steer and stop a run by keys while
the REPL stays usable; plain-words errors for bad input; past runs and overlays; the
quit guard. Every wait is a bounded poll of a condition, never a guessed sleep."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import TIMEOUT_S, run_code, send_keys, type_text, wait_engine
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static

from tui.app import DltuiApp
from tui.core.repl.history import History
from widgets.monitor.pane import MonitorPane
from widgets.repl.output import ReplOutput

NET = "net = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))"


def make(tmp_path: Path) -> DltuiApp:
    return DltuiApp(device="cpu", workspace=tmp_path, history=History(tmp_path / "h.jsonl"))


async def poll(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    """Let the app run in 50 ms ticks until ``condition()`` holds; fail at the deadline."""
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def set_form(app: DltuiApp, **fields: str) -> None:
    for name, value in fields.items():
        app.query_one(f"#train-{name}", Input).value = value


def message(app: DltuiApp) -> Static:
    return app.query_one("#train-message", Static)


def text_of(widget: Static) -> str:
    return str(widget.render())


async def open_monitor(pilot: Pilot) -> MonitorPane:
    await pilot.press("f4")
    pane = pilot.app.query_one(MonitorPane)
    await poll(pilot, lambda: pane.plot is not None, "the monitor's plot")
    pane.focus_default()
    await pilot.pause()
    return pane


async def test_train_while_using_repl_then_pause_step_lr_stop(tmp_path: Path) -> None:
    app = make(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        await run_code(pilot, app, NET)
        net = app.session.namespace["net"]
        pane = await open_monitor(pilot)
        # Enough epochs that the run is still going when we stop it.
        set_form(app, model="net", data="spirals:n=400", batch_size="16", epochs="2000")
        await pilot.press("s")
        await poll(pilot, lambda: pane.trainer is not None, "the run to be prepared")
        t = pane.trainer
        assert t is not None
        assert "error" not in message(app).classes
        series = pane.series["train/loss"]
        plot = pane.plot
        assert plot is not None
        await poll(pilot, lambda: len(series) > 0 and plot.draws > 1, "the first points")
        n1, draws1 = len(series), plot.draws
        assert "running" in text_of(app.query_one("#train-progress", Static))

        # The REPL answers while the trainer runs.
        await pilot.press("f2")
        out = app.query_one(ReplOutput)
        step_before = t.progress.step
        # Few keys: while the trainer burns CPU, Pilot's wait_for_idle waits its full 1 s
        # after each key press (it watches the process's CPU time), a test-harness cost.
        transcript = await run_code(pilot, app, "1+1")
        assert "2" in transcript.splitlines()
        assert t.state == "running"
        # Hidden, the monitor keeps the points but does no rendering work; shown again,
        # the plot catches up at once.
        await poll(pilot, lambda: len(series) > n1, "the series to advance")
        assert t.progress.step > step_before
        assert t.state == "running"
        assert any(line.strip() == "2" for line in out.plain)
        await pilot.press("f4")
        await poll(pilot, lambda: plot.draws > draws1, "the plot to catch up")

        # Pause, one step, lr keys.
        pane.focus_default()
        await pilot.pause()
        await pilot.press("space")
        await poll(pilot, lambda: t.state == "paused", "the pause")
        step0 = t.progress.step
        lr0 = t.progress.lr
        assert lr0 == pytest.approx(1e-3)
        await pilot.press("n")
        await poll(pilot, lambda: t.progress.step == step0 + 1, "one step")
        await poll(pilot, lambda: t.state == "paused", "paused again after the step")
        # Two presses while paused make x4 (both count although neither applied yet).
        await pilot.press("plus", "plus")
        await pilot.press("n")
        await poll(pilot, lambda: t.progress.step == step0 + 2, "a second step")
        assert t.progress.lr == pytest.approx(4 * lr0)
        assert t.optimizer is not None
        assert t.optimizer.param_groups[0]["lr"] == pytest.approx(4 * lr0)
        await pilot.press("minus")
        await pilot.press("n")
        await poll(pilot, lambda: t.progress.step == step0 + 3, "a third step")
        assert t.progress.lr == pytest.approx(2 * lr0)
        assert t.state == "paused"

        # Resume, then stop.
        await pilot.press("space")
        await poll(pilot, lambda: t.progress.step > step0 + 3, "the run to resume")
        await pilot.press("x")
        await poll(pilot, lambda: t.state == "stopped", "the stop")
        assert pane.run_dir is not None
        status = json.loads((pane.run_dir / "status.json").read_text())
        assert status["state"] == "stopped"
        await poll(pilot, lambda: "model" in app.session.namespace, "model in the REPL")
        assert app.session.namespace["model"] is net  # the REPL variable, trained in place
        await poll(
            pilot, lambda: "stopped" in text_of(app.query_one("#train-progress", Static)), "text"
        )
        assert "stopped" in text_of(message(app))
        # The stopped run is listed.
        table = app.query_one("#runs", DataTable)
        await poll(pilot, lambda: table.row_count == 1, "the runs list")
        assert table.get_row_at(0)[2] == "stopped"


async def test_bad_input_says_what_is_wrong_and_writes_nothing(tmp_path: Path) -> None:
    app = make(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        pane = await open_monitor(pilot)
        msg = message(app)

        set_form(app, data="nosuchset")
        await pilot.press("s")
        await poll(pilot, lambda: msg.has_class("-error"), "the data error")
        assert "nosuchset" in text_of(msg)
        assert "Traceback" not in text_of(msg)
        assert pane.trainer is None

        # The default builder stack takes 2 numbers (spirals); these samples have 5.
        set_form(app, model="builder", data="linear:features=5")
        msg.remove_class("-error")
        msg.update("")
        await pilot.press("s")
        await poll(pilot, lambda: msg.has_class("-error"), "the shape error")
        text = text_of(msg)
        assert "input shape" in text and "5" in text, text
        assert "f fits" in text, text  # the one-key fix is offered
        assert pane.trainer is None

        # lr typed by keys into the form; enter in the form starts the run.
        set_form(app, lr="")
        app.query_one("#train-lr", Input).focus()
        await pilot.pause()
        await type_text(pilot, "abc")  # not the REPL input, but the same keys
        assert app.query_one("#train-lr", Input).value == "abc"
        await pilot.press("enter")
        await poll(pilot, lambda: "lr" in text_of(msg) and "abc" in text_of(msg), "lr error")
        assert msg.has_class("-error")
        await app.workers.wait_for_complete()
        assert pane.trainer is None
        runs = tmp_path / "runs"
        assert not runs.exists() or not any(runs.iterdir())


async def test_finished_run_is_listed_and_compared(tmp_path: Path) -> None:
    app = make(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        await run_code(pilot, app, NET)
        pane = await open_monitor(pilot)
        set_form(app, model="net", data="spirals:n=400", epochs="2")
        await pilot.press("s")
        await poll(pilot, lambda: pane.trainer is not None, "the run")
        t = pane.trainer
        assert t is not None
        await poll(pilot, lambda: t.state == "finished", "the run to finish")
        table = app.query_one("#runs", DataTable)
        await poll(
            pilot,
            lambda: table.row_count == 1 and table.get_row_at(0)[2] == "finished",
            "the finished run in the list",
        )
        assert pane.run_dir is not None
        name = pane.run_dir.name
        assert table.get_row_at(0)[0] == name
        assert int(table.get_row_at(0)[3]) == t.progress.total_steps
        await poll(pilot, lambda: app.session.namespace.get("model") is not None, "model")

        pane.focus_default()
        await pilot.pause()
        draws = pane.plot.draws if pane.plot else 0
        await pilot.press("c")
        await poll(pilot, lambda: name in pane.overlays, "the overlay")
        assert len(pane.overlays[name]) == len(pane.series["train/loss"])
        assert pane.plot is not None and pane.plot.draws > draws
        await poll(pilot, lambda: table.get_row_at(0)[6] == "✓", "the shown mark")
        await pilot.press("c")  # again: removed
        await poll(pilot, lambda: name not in pane.overlays, "the overlay removed")


async def test_ctrl_q_asks_first_while_training(tmp_path: Path) -> None:
    app = make(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        await run_code(pilot, app, NET)
        pane = await open_monitor(pilot)
        set_form(app, model="net", data="spirals:n=400", batch_size="16", epochs="2000")
        await pilot.press("s")
        await poll(
            pilot, lambda: pane.trainer is not None and pane.trainer.state == "running", "run"
        )
        t = pane.trainer
        assert t is not None
        # Posted without Pilot's idle wait (up to 1 s a key while the trainer keeps the
        # process busy): the second ctrl+q must come within the 4 s the guard allows.
        send_keys(pilot, "ctrl+q")
        await poll(
            pilot,
            lambda: any("ctrl+q again" in str(n.message) for n in app._notifications),
            "the quit warning",
        )
        assert app.is_running and app.return_code is None
        assert t.state == "running"
        send_keys(pilot, "ctrl+q")
        await poll(pilot, lambda: not app.is_running, "the app to exit")
    assert app.return_code == 0
    assert t.state == "stopped"


async def test_a_diverging_run_pauses_for_a_post_mortem_in_the_repl(tmp_path: Path) -> None:
    app = make(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        await run_code(pilot, app, NET)
        await run_code(pilot, app, "batch = 'my own batch'")  # the user's: kept
        pane = await open_monitor(pilot)
        # An lr that blows the weights up within a few steps.
        set_form(app, model="net", data="spirals:n=400", lr="1e30")
        await pilot.press("s")
        await poll(pilot, lambda: pane.trainer is not None, "the run")
        t = pane.trainer
        await poll(pilot, lambda: t.state == "paused" and t.post_mortem is not None, "the pause")
        ns = app.session.namespace
        await poll(pilot, lambda: "nan_report" in ns, "the post-mortem in the REPL")
        assert ns["batch"] == "my own batch" and ns["batch_2"] is t.post_mortem.batch
        assert ns["model"] is t.model and ns["nan_report"] is t.post_mortem.report
        text = text_of(message(app))
        assert "non-finite loss at step" in text and "space retries" in text, text
        # The REPL answers questions about it.
        await pilot.press("f2")
        out = await run_code(pilot, app, "nan_report.layer, torch.isfinite(loss).item()")
        assert "False" in out, out
        assert any(
            "paused on a non-finite loss" in line for line in app.query_one(ReplOutput).plain
        )
        # The user gives up on this run: x stops it.
        await pilot.press("f4")
        pane.focus_default()
        await pilot.press("x")
        await poll(pilot, lambda: t.state == "stopped", "the stop")
