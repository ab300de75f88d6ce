"""Crash tests: ``kill -9`` of ``dltui train`` at seeded random moments and inside
checkpoint writes, then ``dltui train --resume`` until the run finishes.

After every kill: each complete metrics line parses, checkpoint-last.pt loads with
``weights_only=True``, every reader shows the run as ``died``. After each resume the
temporary files of the cut writes are gone, and at the end the run has finished with
every step logged once: 1, 2, ..., epochs * steps_per_epoch.

The kills inside a checkpoint write use the engine's test hook
(``DLTUI_TEST_PAUSE_IN_CHECKPOINT``, see tui.core.train.runs): the writer creates a
marker file once the temporary checkpoint is written and waits before the rename, so the
kill lands there every time instead of by luck.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from tui.core.train.config import RunState
from tui.core.train.runs import (
    CHECKPOINT_PAUSE_ENV,
    list_runs,
    live_state,
    load_checkpoint,
    read_status,
)

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 120.0
SEED = 20260
EPOCHS = 300
STEPS_PER_EPOCH = 5  # spirals:n=100: 80 training samples, batch 16
# Kill plan: "hook" kills inside a checkpoint write; "random" a seeded random delay
# (0-0.5 s) after the process has logged new steps.
PLAN = ["random", "hook", "random", "random", "hook", "random", "random", "hook", "random"]
SPEC = {
    "format": 1,
    "input_shape": [2],
    "layers": [
        {"type": "Linear", "in_features": 2, "out_features": 8},
        {"type": "ReLU"},
        {"type": "Dropout", "p": 0.1},
        {"type": "Linear", "in_features": 8, "out_features": 2},
    ],
}


def wait(condition, what: str, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process ended ({proc.returncode})")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def start(args: list[str], env_extra: dict[str, str] | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop(CHECKPOINT_PAUSE_ENV, None)
    env.update(env_extra or {})
    return subprocess.Popen(
        [sys.executable, "-m", "tui", "train", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )


def complete_lines(run: Path) -> list[dict]:
    data = (run / "metrics.jsonl").read_bytes()
    complete = data[: data.rfind(b"\n") + 1]
    return [json.loads(line) for line in complete.splitlines()]  # every one parses


def training(run: Path, proc: subprocess.Popen) -> bool:
    """The process has started training (its pid in status.json), with a checkpoint."""
    status = read_status(run) or {}
    return status.get("pid") == proc.pid and (run / "checkpoint-last.pt").exists()


def test_kill_9_at_random_moments_then_resume_until_finished(tmp_path):
    rng = random.Random(SEED)
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    run = tmp_path / "runs" / "crashy"
    # --eval-interval 0: a validation point and a checkpoint at every epoch's end.
    first = [str(spec), "--data", "spirals:n=100", "--epochs", str(EPOCHS),
             "--eval-interval", "0", "--batch-size", "16", "--run-dir", str(run),
             "--num-threads", "1"]  # fmt: skip
    kills = in_checkpoint = 0
    stale: set[str] = set()
    for i, kind in enumerate(PLAN):
        env = {CHECKPOINT_PAUSE_ENV: str(tmp_path / f"pause-{i}")} if kind == "hook" else None
        proc = start(first if i == 0 else ["--resume", str(run)], env)
        try:
            if kind == "hook":
                wait(lambda i=i: (tmp_path / f"pause-{i}").exists(), "the checkpoint pause", proc)
            else:
                wait(lambda proc=proc: training(run, proc), "the run to train", proc)
                before = len(complete_lines(run))
                wait(lambda b=before: len(complete_lines(run)) > b, "new metrics", proc)
                # Not a wait for a condition: the fault injection's seeded random moment.
                time.sleep(rng.uniform(0.0, 0.5))
            # The previous kills' temporary files went when this process resumed.
            assert not stale & {p.name for p in run.glob(".*.tmp")}
            assert proc.poll() is None, "the run ended before its kill"
            proc.send_signal(signal.SIGKILL)
            proc.wait(TIMEOUT_S)
            kills += 1
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        temps = {p.name for p in run.glob(".*.tmp")}
        if kind == "hook":
            assert any(t.startswith(".checkpoint-last.pt.") for t in temps), temps
            in_checkpoint += 1
        stale |= temps
        # After the kill: what every reader sees.
        complete_lines(run)
        ckpt = load_checkpoint(run)  # weights_only=True
        assert ckpt["step"] >= 0 and ckpt["steps_per_epoch"] == STEPS_PER_EPOCH
        assert live_state(read_status(run)) == RunState.DIED
        assert [r.status for r in list_runs(tmp_path)] == [RunState.DIED]

    final = start(["--resume", str(run)])
    _, err = final.communicate(timeout=TIMEOUT_S * 2)
    assert final.returncode == 0, err.decode()
    assert not list(run.glob(".*.tmp"))
    assert read_status(run)["state"] == "finished"
    steps = [d["step"] for d in complete_lines(run) if d["name"] == "train/loss"]
    assert steps == list(range(1, EPOCHS * STEPS_PER_EPOCH + 1))  # once each, no gap
    val = [d["step"] for d in complete_lines(run) if d["name"] == "val/loss"]
    assert val == [STEPS_PER_EPOCH * e for e in range(1, EPOCHS + 1)]
    assert (kills, in_checkpoint) == (len(PLAN), PLAN.count("hook"))
    again = start(["--resume", str(run)])
    _, err = again.communicate(timeout=TIMEOUT_S)
    assert again.returncode == 2 and b"has finished" in err and err.count(b"\n") == 1
