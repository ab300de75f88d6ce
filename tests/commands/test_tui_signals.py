"""The TUI under SIGTERM and SIGHUP (an SSH link that drops): a run training inside is
stopped at a step boundary with a checkpoint, and the app exits 128 + the signal.

The app runs in a pseudo-terminal as a user's terminal would (bench/common.py's PtyApp)."""

from __future__ import annotations

import signal
import sys
from pathlib import Path

import pytest

from bench.common import UI_ENGINE_READY, UI_MONITOR_READY, UI_TRAINING, PtyApp
from tui.core.train.config import RunState
from tui.core.train.runs import list_runs, load_checkpoint, read_status

TIMEOUT_S = 120.0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_stops_the_run_inside_the_app_then_exits(tmp_path: Path, sig: int) -> None:
    argv = [sys.executable, "-m", "tui", "--workspace", str(tmp_path), "--device", "cpu"]
    env = {"DLTUI_DATA_DIR": str(tmp_path / "data")}
    with PtyApp(argv, cols=100, rows=30, cwd=tmp_path, env=env) as app:
        app.wait_screen(UI_ENGINE_READY, TIMEOUT_S)
        app.send("f4")
        app.wait_screen(UI_MONITOR_READY, TIMEOUT_S)
        app.send("s")  # the default run: the builder's stack on two spirals
        app.wait_screen(UI_TRAINING, TIMEOUT_S)
        (run,) = list_runs(tmp_path)
        # Paused, so the run cannot finish on its own before the signal lands.
        app.send("space")
        app.wait(
            lambda a: (
                # status.json may not be written yet when the screen says training.
                (read_status(run.path) or {}).get("state") == RunState.PAUSED
                or "paused" in a.flat_screen()
            ),
            TIMEOUT_S,
            "the run paused",
        )
        app.proc.send_signal(sig)
        code = app.proc.wait(TIMEOUT_S)
    assert code == 128 + sig
    status = read_status(run.path)
    assert status is not None and status["state"] == RunState.STOPPED, status
    checkpoint = load_checkpoint(run.path / "checkpoint-last.pt")
    assert checkpoint["step"] == status["step"]
