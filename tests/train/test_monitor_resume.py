"""The monitor's resume key (r): a stopped run selected in the runs list continues from
its checkpoint through the engine's resume path, its earlier points on the plot."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

from conftest import TIMEOUT_S, wait_engine
from textual.pilot import Pilot
from textual.widgets import DataTable

from tui.app import DltuiApp
from tui.core.builder.spec import LayerStack
from tui.core.repl.history import History
from tui.core.train.config import make_config
from tui.core.train.prepare import prepare_run
from tui.core.train.runs import read_status
from tui.core.train.settings import RunSettings
from widgets.monitor.pane import MonitorPane

SPEC = {
    "format": 1,
    "input_shape": [2],
    "layers": [
        {"type": "Linear", "in_features": 2, "out_features": 8},
        {"type": "ReLU"},
        {"type": "Linear", "in_features": 8, "out_features": 2},
    ],
}


async def poll(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def stopped_run(workspace: Path) -> Path:
    config = make_config({"epochs": 3, "batch_size": 16, "num_threads": 1, "device": "cpu"})
    settings = RunSettings(model="builder", data="spirals:n=200", config=config)
    run = prepare_run(settings, workspace=workspace, stack=LayerStack.from_dict(SPEC))
    t = run.trainer
    t.pause()
    for _ in range(12):
        t.step_once()
    t.start()
    assert t.wait_for(lambda t: t.progress.step == 12 and t.state == "paused", TIMEOUT_S)
    t.stop()
    assert t.join(TIMEOUT_S)
    return run.run_dir.path


async def test_r_resumes_the_selected_stopped_run(tmp_path: Path) -> None:
    path = stopped_run(tmp_path)
    app = DltuiApp(device="cpu", workspace=tmp_path, history=History(tmp_path / "h.jsonl"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        await pilot.press("f4")
        pane = app.query_one(MonitorPane)
        await poll(pilot, lambda: pane.plot is not None, "the monitor")
        table = app.query_one("#runs", DataTable)
        await poll(pilot, lambda: table.row_count == 1, "the runs list")
        pane.focus_default()
        await pilot.press("r")
        await poll(pilot, lambda: pane.trainer is not None, "the resumed run")
        assert pane.trainer.resumed_from is not None
        assert pane.trainer.join(TIMEOUT_S)
        await poll(pilot, lambda: pane.trainer.state == "finished", "the end of the run")
        # The last points reach the plot at the monitor's next drain, after the run ended.
        series = pane.series["train/loss"]
        await poll(pilot, lambda: series.last_step == 30, "the run's last points on the plot")
        steps = list(series.steps)
        assert steps == list(range(1, 31))  # 12 from before the stop, then 13..30
        assert pane.run_dir == path
        assert read_status(path)["state"] == "finished"
        lines = (path / "metrics.jsonl").read_text().splitlines()
        in_file = [json.loads(x)["step"] for x in lines if '"train/loss"' in x]
        assert in_file == steps
        # A finished run is refused in one line, nothing started.
        await pilot.press("r")
        await poll(
            pilot,
            lambda: "has finished" in str(app.query_one("#train-message").render()),
            "the refusal",
        )
