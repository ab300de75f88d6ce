"""The monitor survives: log-y and resizes, a damaged watched run, the user's own `model`,
choices that are choices, a live run's state in the runs list, and `f` after a mismatch.

Pilot tests; every wait is a bounded poll of a condition, never a guessed sleep.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable
from pathlib import Path

from conftest import TIMEOUT_S, run_code, wait_engine
from textual.pilot import Pilot
from textual.widgets import Input, Select, Static

from tui.app import DltuiApp
from tui.core.builder.spec import LayerSpec, LayerStack
from tui.core.repl.history import History
from tui.core.train.handoff import ModelHandoff
from tui.core.train.runs import RunDir
from tui.core.train.series import MetricPoint
from widgets.monitor.loss_plot import LossPlot
from widgets.monitor.pane import MonitorPane
from widgets.monitor.runs_table import RunsTable

NET = "net = nn.Sequential(nn.Linear(2, 16), nn.ReLU(), nn.Linear(16, 2))"


def make(tmp_path: Path, watch: Path | None = None) -> DltuiApp:
    return DltuiApp(
        device="cpu",
        workspace=tmp_path,
        history=History(tmp_path / "h.jsonl"),
        watch=str(watch) if watch else None,
    )


async def poll(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


async def open_monitor(pilot: Pilot) -> MonitorPane:
    await pilot.press("f4")
    pane = pilot.app.query_one(MonitorPane)
    await poll(pilot, lambda: pane.plot is not None, "the monitor's plot")
    pane.focus_default()
    await pilot.pause()
    return pane


def text(app: DltuiApp, selector: str) -> str:
    return str(app.query_one(selector, Static).render())


def plot_text(plot: LossPlot) -> str:
    return str(plot.render())


def _bad_run(ws: Path, name: str = "bad") -> Path:
    """A run with one good point per kind and every bad record the readers must survive."""
    run = RunDir.create(ws, name=name)
    run.write_config(
        {"format": 1, "created": time.time(), "model": "spec", "spec_path": "net.json",
         "data": "moons:n=300", "train": {"loss": "mse", "optimizer": "sgd", "lr": 0.05,
         "batch_size": 16, "epochs": 7, "device": "cpu"}}
    )  # fmt: skip
    run.append_metrics(
        [MetricPoint(s, 1, time.time(), "train/loss", 1.0 / s) for s in range(1, 20)]
    )
    run.close()
    with open(run.path / "metrics.jsonl", "a") as fh:
        for line in (
            '{"step": 1e400, "name": "train/loss", "value": 1}',
            '{"step": "abc", "name": "train/loss", "value": 1}',
            '{"step": Infinity, "name": "train/loss", "value": 1}',
            '{"step": [1], "name": "train/loss", "value": 1}',
            '{"step": 30, "name": "train/loss", "value": "abc"}',
        ):
            fh.write(line + "\n")
    status = {"state": "running", "pid": 2**70, "host": socket.gethostname(), "step": "abc",
              "steps_per_epoch": float("inf"), "error": None}  # fmt: skip
    (run.path / "status.json").write_text(json.dumps(status, allow_nan=True))
    return run.path


async def test_log_y_then_resizes_keep_the_app_and_the_plot(tmp_path: Path) -> None:
    run = _bad_run(tmp_path, "curve")
    app = make(tmp_path, watch=run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        pane = app.query_one(MonitorPane)
        await poll(pilot, lambda: pane.plot is not None and len(pane.series["train/loss"]) == 19,
                   "the watched points")  # fmt: skip
        plot = pane.plot
        assert plot is not None
        pane.focus_default()
        await pilot.press("l")
        assert plot.logy
        for size in ((80, 24), (120, 40), (40, 10), (80, 24), (120, 40)):
            draws = plot.draws
            await pilot.resize_terminal(*size)
            await pilot.pause()
            await poll(pilot, lambda s=size: app.size == s, f"the size {size}")
            shown = plot_text(plot)  # a re-render without new data: plotext used to raise
            assert plot.error is None and "could not be drawn" not in shown, shown
            assert plot.draws >= draws
        assert app.is_running and pane.plot is plot
        # The log axis is labelled in the loss's own units.
        assert "0.1" in plot_text(plot) or "0.2" in plot_text(plot)


async def test_a_render_error_stays_in_the_plot(tmp_path: Path, monkeypatch) -> None:
    app = make(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_engine(pilot)
        pane = await open_monitor(pilot)
        plot = pane.plot
        assert plot is not None

        def broken() -> str:
            raise ValueError("math domain error")

        monkeypatch.setattr(plot.plt, "build", broken)
        plot.refresh()
        await pilot.resize_terminal(90, 28)
        await poll(pilot, lambda: plot.error is not None, "the error kept")
        assert "math domain error" in plot_text(plot)
        assert app.is_running


async def test_watch_of_a_damaged_run_keeps_running_and_shows_its_config(tmp_path: Path) -> None:
    good = RunDir.create(tmp_path, name="good")
    good.write_status("finished", step=3)
    run = _bad_run(tmp_path)
    app = make(tmp_path, watch=run)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        pane = app.query_one(MonitorPane)
        await poll(pilot, lambda: "unreadable" in text(app, "#train-progress"), "the watch line")
        progress = text(app, "#train-progress")
        assert "step 19" in progress and "5 unreadable metric lines" in progress
        # The form shows the watched run's config, read-only.
        form = {n: app.query_one(f"#train-{n}") for n in ("model", "data", "optimizer", "epochs")}
        assert isinstance(form["data"], Input) and form["data"].value == "moons:n=300"
        assert form["model"].value == "net.json"
        assert isinstance(form["optimizer"], Select) and form["optimizer"].value == "sgd"
        assert form["epochs"].value == "7" and all(w.disabled for w in form.values())
        # Both runs are listed: the damaged one with what can be read.
        table = app.query_one(RunsTable)
        await poll(pilot, lambda: table.row_count == 2, "both runs listed")
        assert table.get_row(str(run))[2] == "running"  # the 2**70 pid cannot be asked about
        # Compare the damaged run: its curve overlays.
        table.focus()
        table.move_cursor(row=[r.value for r in table.rows].index(str(run)))
        await pilot.press("c")
        await poll(pilot, lambda: "bad" in pane.overlays, "the overlay")
        assert len(pane.overlays["bad"]) == 19
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.is_running


async def test_compare_says_why_a_run_has_nothing_to_show(tmp_path: Path) -> None:
    empty = RunDir.create(tmp_path, name="empty")
    empty.write_status("failed", error="boom")
    (empty.path / "metrics.jsonl").write_text('{"step": "x"}\n')
    app = make(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        pane = await open_monitor(pilot)
        table = app.query_one(RunsTable)
        await poll(pilot, lambda: table.row_count == 1, "the run listed")
        await pilot.press("c")
        await poll(
            pilot,
            lambda: any("nothing to overlay" in str(n.message) for n in app._notifications),
            "the reason",
        )
        assert not pane.overlays


def test_handoff_never_overwrites_the_users_model() -> None:
    ns: dict[str, object] = {"model": "mine"}
    handoff = ModelHandoff()
    first, second = object.__new__(type("M", (), {})), object.__new__(type("M", (), {}))
    name, note = handoff.bind(ns, first)
    assert name == "model_2" and ns["model"] == "mine" and ns["model_2"] is first
    assert "your own" in note
    del ns["model"]
    assert handoff.bind(ns, second)[0] == "model" and ns["model"] is second
    third = object.__new__(type("M", (), {}))
    assert handoff.bind(ns, third)[0] == "model"  # the previous run's: replaced
    assert handoff.bind(ns, third)[0] == "model"  # already there
    ns["model"] = "mine again"
    ns["net"] = fourth = object.__new__(type("M", (), {}))
    assert handoff.bind(ns, fourth) == (
        "net",
        "the trained model is `net` in the REPL (trained in place)",
    )


async def test_a_finished_run_keeps_the_users_model_and_lists_as_running(tmp_path: Path) -> None:
    app = make(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        await run_code(pilot, app, "model = 'my own'")
        pane = await open_monitor(pilot)
        stack = LayerStack(
            input_shape=(2,),
            layers=[LayerSpec("Linear", {"in_features": "auto", "out_features": 2})],
        )
        pane.stack_source = lambda: stack.copy()
        for name, value in (("data", "spirals:n=200"), ("epochs", "400"), ("batch_size", "8")):
            app.query_one(f"#train-{name}", Input).value = value
        await pilot.press("s")
        await poll(pilot, lambda: pane.trainer is not None, "the run")
        table = app.query_one(RunsTable)
        key = str(pane.run_dir)
        await poll(
            pilot,
            lambda: key in table.rows and table.get_row(key)[2] in ("running", "paused"),
            "the run listed as running",
        )
        await pilot.press("x")
        await poll(pilot, lambda: not pane.training and pane._last_state == "stopped", "stopped")
        await poll(pilot, lambda: "model_2" in app.session.namespace, "the model bound")
        assert app.session.namespace["model"] == "my own"
        assert "model_2" in text(app, "#train-message")
        await poll(pilot, lambda: table.get_row(key)[2] == "stopped", "the final state")


async def test_choices_are_choices_and_typed_devices_are_checked(tmp_path: Path) -> None:
    app = make(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        pane = await open_monitor(pilot)
        for name in ("loss", "optimizer"):
            assert isinstance(app.query_one(f"#train-{name}"), Select)
        app.query_one("#train-device", Input).value = "100000"
        await pilot.press("s")
        await poll(pilot, lambda: "not a device" in text(app, "#train-message"), "the error")
        assert "cpu, cuda, cuda:N, mps" in text(app, "#train-message")
        assert pane.trainer is None and not (tmp_path / "runs").exists()


async def test_f_fits_the_builder_stack_to_the_data_after_a_mismatch(tmp_path: Path) -> None:
    app = make(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        await run_code(pilot, app, NET)
        pane = await open_monitor(pilot)
        wrong = LayerStack(
            input_shape=(1, 28, 28),
            layers=[
                LayerSpec("Flatten"),
                LayerSpec("Linear", {"in_features": "auto", "out_features": 10}),
            ],
        )
        app.builder_pane.set_stack(wrong.copy())
        pane.stack_source = app.builder_stack
        app.query_one("#train-data", Input).value = "spirals:n=100"
        await pilot.press("s")
        await poll(pilot, lambda: "f fits" in text(app, "#train-message"), "the offer")
        await pilot.press("f")
        await poll(pilot, lambda: "fitted" in text(app, "#train-message"), "the fit")
        stack = app.builder_pane.stack
        assert stack is not None
        assert tuple(stack.input_shape) == (2,)
        assert stack.layers[-1].args["out_features"] == 2
        assert not (tmp_path / "runs").exists()  # f edits the builder; nothing was written
