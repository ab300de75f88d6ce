"""``dltui watch RUN_DIR``: the monitor follows a run that another process writes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch  # noqa: F401  (imported here, not in wait_engine's bound: see below)
from conftest import TIMEOUT_S, wait_engine
from textual.pilot import Pilot
from textual.widgets import Static

from tui.app import DltuiApp
from tui.core.repl.history import History
from tui.core.train.runs import RunDir
from tui.core.train.series import MetricPoint
from widgets.monitor.pane import MonitorPane

REPO = Path(__file__).resolve().parents[2]
SPEC = {
    "format": 1,
    "input_shape": [2],
    "layers": [
        {"type": "Linear", "in_features": 2, "out_features": 16},
        {"type": "ReLU"},
        {"type": "Linear", "in_features": 16, "out_features": 2},
    ],
}


def watcher(tmp_path: Path, run_dir: Path) -> DltuiApp:
    return DltuiApp(
        device="cpu",
        workspace=tmp_path,
        history=History(tmp_path / "h.jsonl"),
        watch=str(run_dir),
    )


async def poll(
    pilot: Pilot, condition: Callable[[], bool], what: str, timeout: float = TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def progress(app: DltuiApp) -> str:
    return str(app.query_one("#train-progress", Static).render())


def train_losses_in_file(run_dir: Path) -> list[tuple[int, float]]:
    out = []
    for line in (run_dir / "metrics.jsonl").read_text().splitlines():
        d = json.loads(line)
        if d["name"] == "train/loss":
            out.append((d["step"], d["value"]))
    return out


# torch is imported at collection: a fresh process on a loaded machine otherwise spends
# most of wait_engine's bound importing it in the app's start-up worker, and these tests
# are about following a run, not start-up time.

# A writer in another process that appends exactly the points it is told to, when told:
# the watcher's growth is then observed step by step, whatever the machine's speed. (The
# old test watched a real 12-epoch run for two different non-zero series lengths, and a
# run that wrote everything between two drains made it time out: issue 11.)
WRITER = """
import sys
from tui.core.train.runs import RunDir
from tui.core.train.series import MetricPoint

run = RunDir.at(sys.argv[1])
step = 0
for line in sys.stdin:
    command = line.strip()
    if command == "finish":
        run.write_status("finished", step=step, epoch=1)
        print("finished", flush=True)
        break
    points = []
    for _ in range(int(command)):
        step += 1
        points.append(MetricPoint(step, 1, 1000.0 + step, "train/loss", 1.0 / step))
    run.append_metrics(points)
    run.flush()
    run.write_status("running", step=step, epoch=1)
    print(step, flush=True)
"""


class Writer:
    """The controllable writer process."""

    def __init__(self, run_dir: Path) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(run_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )

    def send(self, command: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()  # written and flushed when it answers

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


def series_len(pane: MonitorPane, name: str = "train/loss") -> int:
    # Looked up on every poll: the pane may replace its series objects.
    series = pane.series.get(name)
    return len(series) if series is not None else 0


async def test_watch_follows_a_run_of_another_process_and_reattaches(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "external"
    app = watcher(tmp_path, run_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        pane = app.query_one(MonitorPane)
        assert app.current_pane == "monitor"
        await poll(pilot, lambda: pane.watch_reader is not None, "watch mode")
        await poll(pilot, lambda: "waiting" in progress(app), "the waiting text")
        writer = Writer(run_dir)
        try:
            for total in (5, 12, 30):
                sent = await asyncio.to_thread(writer.send, str(total - series_len(pane)))
                assert sent == str(total)
                await poll(pilot, lambda t=total: series_len(pane) == t, f"{total} points")
                # The points are read before status.json in a drain, and the writer writes
                # them before its status: wait for both, do not assert on the first.
                shown = lambda t=total: f"running  step {t} " in progress(app)  # noqa: E731
                await poll(pilot, shown, f"running at step {total}")
            assert await asyncio.to_thread(writer.send, "finish") == "finished"
            await poll(pilot, lambda: "finished" in progress(app), "the finished state")
        finally:
            writer.close()
        assert list(pane.series["train/loss"].steps) == list(range(1, 31))
        assert pane.plot is not None and pane.plot.draws > 1

    # A second watcher, opened after the first has gone, reads the run from the start.
    app2 = watcher(tmp_path, run_dir)
    async with app2.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        pane2 = app2.query_one(MonitorPane)
        await poll(pilot, lambda: "finished" in progress(app2), "the second watcher")
        await poll(pilot, lambda: series_len(pane2) == 30, "the full series")
        assert list(pane2.series["train/loss"].values) == [1.0 / s for s in range(1, 31)]


async def test_watch_shows_the_whole_series_of_a_dltui_train_run(tmp_path: Path) -> None:
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    run_dir = tmp_path / "runs" / "real"
    app = watcher(tmp_path, run_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        pane = app.query_one(MonitorPane)
        await poll(pilot, lambda: pane.watch_reader is not None, "watch mode")
        proc = subprocess.Popen(
            [sys.executable, "-m", "tui", "train", str(spec), "--data", "spirals:n=400",
             "--epochs", "12", "--batch-size", "16", "--eval-interval", "0",
             "--run-dir", str(run_dir)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )  # fmt: skip
        try:
            # A whole process (torch import included) on a shared machine: a longer bound.
            ended = lambda: proc.poll() is not None  # noqa: E731
            await poll(pilot, ended, "the training process", timeout=4 * TIMEOUT_S)
            assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        expected = train_losses_in_file(run_dir)
        assert len(expected) == 12 * 20  # 320 training samples / 16
        await poll(pilot, lambda: "finished" in progress(app), "the finished state")
        await poll(pilot, lambda: series_len(pane) == len(expected), "the whole series")
        assert list(pane.series["train/loss"].steps) == [s for s, _ in expected]
        assert list(pane.series["train/loss"].values) == [v for _, v in expected]
        assert f"step {expected[-1][0]}" in progress(app)
        await poll(pilot, lambda: series_len(pane, "val/loss") == 12, "the validation points")


async def test_watch_tolerates_a_torn_last_line(tmp_path: Path) -> None:
    run_dir = tmp_path / "runs" / "torn"
    rd = RunDir.at(run_dir)
    rd.write_status("running", step=3, epoch=1)
    rd.append_metrics([MetricPoint(s, 1, 1000.0 + s, "train/loss", 1.0 / s) for s in (1, 2, 3)])
    rd.flush()
    metrics = run_dir / "metrics.jsonl"
    full = json.dumps({"step": 4, "epoch": 1, "time": 1004.0, "name": "train/loss", "value": 0.2})
    with open(metrics, "a") as fh:
        fh.write(full[:17])  # a write caught half-way
    app = watcher(tmp_path, run_dir)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        pane = app.query_one(MonitorPane)
        series_ready = lambda: "train/loss" in pane.series and len(pane.series["train/loss"]) == 3  # noqa: E731
        await poll(pilot, series_ready, "the complete lines")
        drains = pane.drains
        await poll(pilot, lambda: pane.drains >= drains + 2, "more drains")
        series = pane.series["train/loss"]
        assert list(series.steps) == [1, 2, 3]
        assert "running" in progress(app) and "step 3" in progress(app)
        assert app.is_running
        # The writer completes its line: the point arrives whole.
        with open(metrics, "a") as fh:
            fh.write(full[17:] + "\n")
        await poll(pilot, lambda: len(series) == 4, "the completed line")
        assert series.values[-1] == 0.2
        assert pane.watch_reader is not None and pane.watch_reader.skipped == 0
