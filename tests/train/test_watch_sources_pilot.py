"""``dltui watch PATH...`` in the monitor, driven by keys at 80x24: a folder of mixed runs
overlaid by tag, the tag picker, the run filter, the x axis; a SummaryWriter in another
process followed live; the status line's system figures. Every wait is a bounded poll."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import torch  # noqa: F401  (imported at collection, not inside wait_engine's bound)
from conftest import TIMEOUT_S, type_text, wait_engine
from textual.pilot import Pilot
from textual.widgets import Static
from torch.utils.tensorboard import SummaryWriter

from tui.app import DltuiApp
from tui.core.repl.history import History
from tui.core.train.runs import RunDir
from tui.core.train.series import MetricPoint
from widgets.common.dialogs import PickerDialog, PromptDialog
from widgets.common.status_line import StatusLine
from widgets.monitor.pane import MonitorPane
from widgets.monitor.runs_table import RunsTable

REPO = Path(__file__).resolve().parents[2]


def watcher(tmp_path: Path, *paths: Path) -> DltuiApp:
    return DltuiApp(
        device="cpu",
        workspace=tmp_path,
        history=History(tmp_path / "h.jsonl"),
        watch=[str(p) for p in paths],
    )


async def poll(
    pilot: Pilot, condition: Callable[[], bool], what: str, timeout: float = TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await pilot.pause(0.05)


def mixed_folder(root: Path) -> Path:
    """A dltui run, a TensorBoard run and a Lightning CSV run, all logging train/loss."""
    rd = RunDir.at(root / "mine")
    rd.write_status("finished", step=20, epoch=1)
    rd.append_metrics(
        [MetricPoint(s, 1, 1.7e9 + s, "train/loss", 1.0 / s) for s in range(1, 21)]
        + [MetricPoint(20, 1, 1.7e9 + 20, "val/loss", 0.3)]
    )
    rd.close()
    w = SummaryWriter(str(root / "theirs"), flush_secs=5)
    for i in range(30):
        w.add_scalar("train/loss", 2.0 / (i + 1), i)
        w.add_scalar("val/loss", 3.0 / (i + 1), i)
    w.close()
    v = root / "lightning_logs" / "version_0"
    v.mkdir(parents=True)
    rows = "".join(f"0,{s},{1.5 / (s + 1)},\n" for s in range(10))
    (v / "metrics.csv").write_text("epoch,step,train/loss,val/loss\n" + rows + "0,9,,0.7\n")
    return root


def table_keys(app: DltuiApp) -> list[str]:
    table = app.query_one(RunsTable)
    return [str(k.value) for k in table.rows]


async def test_mixed_folder_overlaid_by_tag_with_picker_filter_and_axis(tmp_path: Path) -> None:
    root = mixed_folder(tmp_path / "runs")
    app = watcher(tmp_path, root)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_engine(pilot)
        pane = app.query_one(MonitorPane)
        assert app.current_pane == "monitor"
        await poll(pilot, lambda: pane.watched is not None, "watch mode")
        watched = pane.watched
        assert watched is not None
        runs = {"mine", "theirs", "lightning_logs/version_0"}
        await poll(pilot, lambda: set(table_keys(app)) == runs, "every run listed")
        # Overlaid by tag: train/loss (the default) of all three runs on one plot.
        full = lambda: {k: len(s) for k, s in watched.lines().items()}  # noqa: E731
        lines = {"mine": 20, "theirs": 30, "lightning_logs/version_0": 10}
        await poll(pilot, lambda: full() == lines, "three train/loss lines")
        assert watched.tags == ["train/loss"]
        table = app.query_one(RunsTable)
        row = table.get_row("theirs")
        assert row[1] == "tensorboard" and row[3] == "29" and row[4] == "0.06667"
        assert table.get_row("lightning_logs/version_0")[1] == "lightning"
        plot = pane.plot
        assert plot is not None and plot.error is None

        # t: the fuzzy tag picker; "vl" finds val/loss.
        pane.focus_default()
        await pilot.press("t")
        await poll(pilot, lambda: isinstance(app.screen, PickerDialog), "the tag picker")
        await type_text(pilot, "vl")
        await pilot.press("enter")
        await poll(pilot, lambda: watched.tags == ["val/loss"], "val/loss picked")
        assert {k: len(s) for k, s in watched.lines().items()} == {
            "mine": 1, "theirs": 30, "lightning_logs/version_0": 1,
        }  # fmt: skip
        # T adds train/loss back: two tags, one line per run and tag.
        await pilot.press("T")
        await poll(pilot, lambda: isinstance(app.screen, PickerDialog), "the tag picker")
        await type_text(pilot, "train")
        await pilot.press("enter")
        await poll(pilot, lambda: watched.tags == ["val/loss", "train/loss"], "two tags")
        assert "theirs train/loss" in watched.lines() and "theirs val/loss" in watched.lines()

        # /: a regex over run names; the list and the plot keep the matching runs.
        await pilot.press("slash")
        await poll(pilot, lambda: isinstance(app.screen, PromptDialog), "the filter prompt")
        await type_text(pilot, "the(")
        await pilot.press("enter")  # a bad regex: the prompt says so and stays open
        error = lambda: str(app.screen.query_one("#prompt-error", Static).render())  # noqa: E731
        await poll(pilot, lambda: "bad filter" in error(), "the bad-regex line")
        await pilot.press("backspace")
        await pilot.press("enter")
        await poll(pilot, lambda: table_keys(app) == ["theirs"], "the filtered list")
        # One run left: its lines are labelled by tag alone.
        assert set(watched.lines()) == {"val/loss", "train/loss"}

        # c hides the selected run; again shows it.
        await pilot.press("c")
        await poll(pilot, lambda: watched.lines() == {}, "the run hidden")
        await pilot.press("c")
        await poll(pilot, lambda: len(watched.lines()) == 2, "the run shown again")

        # a: step -> relative time -> wall-clock time -> step.
        draws = plot.draws
        for axis in ("time", "wall", "step"):
            await pilot.press("a")
            await poll(pilot, lambda a=axis: plot.xaxis == a, f"x by {axis}")
        assert plot.draws >= draws + 3 and plot.error is None
        assert app.is_running


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from torch.utils.tensorboard import SummaryWriter
    log, go = sys.argv[1], Path(sys.argv[2])
    w = SummaryWriter(log, flush_secs=1)
    for i in range(10):
        w.add_scalar("Loss/train", 1.0 / (i + 1), i)
    w.flush()
    print("ready", flush=True)
    end = time.monotonic() + 120
    while not go.exists() and time.monotonic() < end:
        time.sleep(0.02)
    for i in range(10, 25):
        w.add_scalar("Loss/train", 1.0 / (i + 1), i)
    w.flush()
    print("done", flush=True)
    time.sleep(60)  # still open: the watcher follows a live writer
    """
)


async def test_a_summary_writer_in_another_process_is_followed_live(tmp_path: Path) -> None:
    log = tmp_path / "runs" / "exp"
    go = tmp_path / "go"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(log), str(go)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    try:
        assert proc.stdout is not None
        assert (await asyncio.to_thread(proc.stdout.readline)).strip() == "ready"
        app = watcher(tmp_path, tmp_path / "runs")
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_engine(pilot)
            pane = app.query_one(MonitorPane)
            await poll(pilot, lambda: pane.watched is not None, "watch mode")
            watched = pane.watched
            assert watched is not None
            n = lambda: len(watched.series.get("exp", {}).get("Loss/train", []))  # noqa: E731
            await poll(pilot, lambda: n() == 10, "the first flush")
            assert watched.tags == ["Loss/train"]  # no train/loss: the first tag
            await poll(pilot, lambda: app.query_one(RunsTable).get_row("exp")[2] == "running",
                       "the run shown running")  # fmt: skip
            go.touch()
            assert (await asyncio.to_thread(proc.stdout.readline)).strip() == "done"
            await poll(pilot, lambda: n() == 25, "the second flush")
            series = watched.series["exp"]["Loss/train"]
            assert list(series.steps) == list(range(25))
            await poll(pilot, lambda: app.query_one(RunsTable).get_row("exp")[3] == "24",
                       "the last step in the list")  # fmt: skip
    finally:
        proc.kill()
        proc.wait()


async def test_status_line_shows_system_figures(tmp_path: Path) -> None:
    app = DltuiApp(device="cpu", workspace=tmp_path, history=History(tmp_path / "h.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        status = app.query_one(StatusLine)
        await poll(pilot, lambda: "RSS" in status.system_text, "the system figures")
        assert status.system_text.startswith("CPU ")
        assert "RSS" in str(status.render())
        assert app.system is not None and app.system._sampler is not None
    # Stopped and joined on exit: the sampler's thread is gone.
    assert app.system._sampler is None
