"""Resuming a run from its checkpoint: exact continuation, crash leftovers, refusals,
and write failures (a full disk) that end a run as failed in plain words."""

from __future__ import annotations

import errno
import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tui.core.builder.spec import LayerStack
from tui.core.train import runs as runs_mod
from tui.core.train.config import make_config
from tui.core.train.prepare import PreparedRun, prepare_run
from tui.core.train.resume import resume_run
from tui.core.train.runs import RunDir, list_runs, load_checkpoint, read_status
from tui.core.train.settings import PrepareError, RunSettings
from tui.core.train.trainer import Trainer, stop_all_trainers

TIMEOUT = 60
SPEC = {
    "format": 1,
    "input_shape": [2],
    "layers": [
        {"type": "Linear", "in_features": 2, "out_features": 16},
        {"type": "ReLU"},
        {"type": "Dropout", "p": 0.2},  # uses torch's generator: restored on resume
        {"type": "Linear", "in_features": 16, "out_features": 2},
    ],
}
STEPS_PER_EPOCH = 10  # spirals:n=200, 160 training samples, batch 16


def prepare(tmp_path: Path, name: str, epochs: int = 3, **cfg) -> PreparedRun:
    config = make_config(
        {
            "epochs": epochs,
            "batch_size": 16,
            "num_threads": 1,
            "device": "cpu",
            "eval_interval": 0,
            **cfg,
        }
    )
    settings = RunSettings(model="builder", data="spirals:n=200", config=config)
    return prepare_run(
        settings,
        workspace=tmp_path,
        stack=LayerStack.from_dict(SPEC),
        run_dir=tmp_path / "runs" / name,
    )


def finish(trainer: Trainer) -> Trainer:
    trainer.start()
    assert trainer.join(TIMEOUT), "the run did not end in time"
    return trainer


def stop_at(trainer: Trainer, step: int, lr: float | None = None) -> None:
    """Take exactly ``step`` steps (at learning rate ``lr`` if given), then stop: a
    deterministic mid-epoch stop."""
    trainer.pause()
    if lr is not None:
        trainer.set_lr(lr)
    for _ in range(step):
        trainer.step_once()
    trainer.start()
    assert trainer.wait_for(lambda t: t.progress.step == step and t.state == "paused", TIMEOUT)
    trainer.stop()
    assert trainer.join(TIMEOUT)
    assert trainer.state == "stopped"


def metrics(path: Path) -> list[tuple[str, int, int, float]]:
    """The run's points, the machine's system/... readings left out (they differ)."""
    out = []
    for line in (path / "metrics.jsonl").read_text().splitlines():
        d = json.loads(line)
        if not d["name"].startswith("system/"):
            out.append((d["name"], d["step"], d["epoch"], d["value"]))
    return out


def steps_of(rows, name="train/loss") -> list[int]:
    return [step for n, step, _, _ in rows if n == name]


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def crash(path: Path) -> None:
    """Make a stopped run look like one whose writer was killed mid-epoch: status
    running with a gone pid, metrics logged after the checkpoint, a torn last line and
    the temporary file of a checkpoint write cut short."""
    status = json.loads((path / "status.json").read_text())
    status.update(state="running", pid=dead_pid())
    (path / "status.json").write_text(json.dumps(status))
    step = load_checkpoint(path)["step"]
    with open(path / "metrics.jsonl", "a") as fh:
        for s in range(step + 1, step + 4):
            fh.write(
                json.dumps({"step": s, "epoch": 9, "time": 0, "name": "train/loss", "value": 9.0})
            )
            fh.write("\n")
        fh.write('{"step": 99, "na')
    (path / ".checkpoint-last.pt.k9x.tmp").write_bytes(b"PK\x03\x04 half a zip")


def test_a_stopped_run_resumes_exactly_where_it_was(tmp_path):
    straight = finish(prepare(tmp_path, "straight").trainer)
    assert straight.state == "finished"
    run = prepare(tmp_path, "resumed")
    stop_at(run.trainer, 13)  # inside epoch 2
    ckpt = load_checkpoint(run.run_dir.path)
    assert (ckpt["step"], ckpt["epochs_done"], ckpt["epoch_step"]) == (13, 1, 3)
    assert read_status(run.run_dir.path)["state"] == "stopped"

    again = resume_run(run.run_dir.path)
    assert again.resumed and again.trainer.progress.step == 13
    finish(again.trainer)
    assert again.trainer.state == "finished", again.trainer.error
    # Same losses at every step, same validation, same weights: shuffling, dropout and
    # Adam's moments all went on as if never stopped.
    assert metrics(run.run_dir.path) == metrics(straight.run_dir.path)
    for a, b in zip(
        again.trainer.model.state_dict().values(),
        straight.model.state_dict().values(),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    status = read_status(run.run_dir.path)
    assert status["state"] == "finished" and status["step"] == 3 * STEPS_PER_EPOCH


def test_a_crashed_run_resumes_without_leftovers_or_duplicate_steps(tmp_path):
    run = prepare(tmp_path, "crashed")
    stop_at(run.trainer, 17, lr=3e-3)  # the lr is the optimizer's: restored with it
    crash(run.run_dir.path)
    assert [r.status for r in list_runs(tmp_path)] == ["died"]  # the tmp file is ignored
    again = resume_run(run.run_dir.path)
    assert not list(run.run_dir.path.glob(".*.tmp"))
    assert max(steps_of(metrics(run.run_dir.path))) == 17  # cut back to the checkpoint
    assert again.trainer.progress.lr == pytest.approx(3e-3)
    finish(again.trainer)
    assert again.trainer.state == "finished", again.trainer.error
    rows = metrics(run.run_dir.path)
    for name in ("train/loss", "val/loss", "lr"):
        steps = steps_of(rows, name)
        assert steps == sorted(set(steps)), name  # strictly increasing: no step twice
    assert steps_of(rows) == list(range(1, 3 * STEPS_PER_EPOCH + 1))
    assert len(steps_of(rows, "val/loss")) == 3
    config = json.loads((run.run_dir.path / "config.json").read_text())
    assert config["resumes"][0]["step"] == 17


def test_a_run_killed_before_its_first_checkpoint_starts_again(tmp_path):
    run = prepare(tmp_path, "early", epochs=1)
    run.run_dir.write_status("running", step=2, epoch=1)
    point = {"epoch": 1, "time": 0, "name": "train/loss", "value": 1.0}
    run.run_dir.append_metrics([{"step": s, **point} for s in (1, 2)])
    run.run_dir.close()
    status = json.loads((run.run_dir.path / "status.json").read_text())
    status["pid"] = dead_pid()
    (run.run_dir.path / "status.json").write_text(json.dumps(status))
    again = resume_run(run.run_dir.path)
    assert again.trainer.resumed_from is None
    finish(again.trainer)
    assert steps_of(metrics(run.run_dir.path)) == list(range(1, STEPS_PER_EPOCH + 1))


def test_what_cannot_be_resumed_is_refused_in_one_line(tmp_path):
    done = prepare(tmp_path, "done", epochs=1)
    finish(done.trainer)
    with pytest.raises(PrepareError, match="has finished"):
        resume_run(done.run_dir.path)
    live = prepare(tmp_path, "live", epochs=1)
    live.run_dir.write_status("running")  # this process: alive
    with pytest.raises(PrepareError, match="still running"):
        resume_run(live.run_dir.path)
    with pytest.raises(PrepareError, match="not a dltui run"):
        resume_run(tmp_path / "nothing")

    stopped = prepare(tmp_path, "stopped", epochs=3)
    stop_at(stopped.trainer, 25)
    with pytest.raises(PrepareError, match="--lr cannot change"):
        resume_run(stopped.run_dir.path, changes={"lr": 0.1})
    with pytest.raises(PrepareError, match="done 2 epochs already") as info:
        resume_run(stopped.run_dir.path, changes={"epochs": 1})
    assert info.value.text(as_flag=True).startswith("--epochs")
    ckpt = stopped.run_dir.path / "checkpoint-last.pt"
    good = ckpt.read_bytes()
    ckpt.write_bytes(good[: len(good) // 2])
    with pytest.raises(PrepareError, match="cannot be read") as info:
        resume_run(stopped.run_dir.path)
    assert "\n" not in str(info.value)
    ckpt.write_bytes(good)
    # Refusals changed nothing; a longer run is allowed, and goes on to the new end.
    again = resume_run(stopped.run_dir.path, changes={"epochs": 4})
    finish(again.trainer)
    assert again.trainer.progress.step == 4 * STEPS_PER_EPOCH


def test_truncate_metrics_keeps_whole_lines_up_to_the_step(tmp_path):
    rng = random.Random(0)
    run = RunDir(tmp_path)
    for trial in range(200):
        lines, step = [], 0
        for _ in range(rng.randint(0, 40)):
            step += rng.choice([0, 1, 1, 2])
            lines.append(json.dumps({"step": step, "name": "x", "value": 1.0}) + "\n")
        torn = '{"step": 1, "na' if rng.random() < 0.3 else ""
        (tmp_path / "metrics.jsonl").write_text("".join(lines) + torn)
        last = rng.randint(-1, step + 1)
        run.truncate_metrics(last)
        kept = [line for line in lines if json.loads(line)["step"] <= last]
        assert (tmp_path / "metrics.jsonl").read_text() == "".join(kept), trial


def test_a_full_disk_fails_the_run_in_plain_words(tmp_path, monkeypatch):
    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    run = prepare(tmp_path, "full-ckpt", epochs=2)
    monkeypatch.setattr(torch, "save", no_space)
    finish(run.trainer)
    message = (
        "no space left on device while writing checkpoint-last.pt: "
        "free space or choose another --run-dir"
    )
    assert run.trainer.state == "failed" and run.trainer.error == message
    status = read_status(run.run_dir.path)
    assert status["state"] == "failed" and status["error"] == message
    assert not list(run.run_dir.path.glob(".*.tmp"))
    monkeypatch.undo()

    class FullFile(io.StringIO):
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

        flush = close = lambda self: no_space()

    run = prepare(tmp_path, "full-metrics", epochs=2)
    monkeypatch.setattr(RunDir, "_open_metrics", lambda self: FullFile())
    finish(run.trainer)
    assert run.trainer.error.startswith("no space left on device while writing metrics.jsonl")
    assert read_status(run.run_dir.path)["state"] == "failed"

    # No room for a temporary status file either: the old one is overwritten in place.
    monkeypatch.setattr(runs_mod, "_atomic_write_json", no_space)
    run.run_dir.write_status("failed", error="again")
    assert read_status(run.run_dir.path)["error"] == "again"


def test_the_exit_guard_stops_and_joins_running_trainers(tmp_path):
    run = prepare(tmp_path, "exit", epochs=10_000)
    run.trainer.start()
    assert run.trainer.wait_for(lambda t: t.progress.step >= 3, TIMEOUT)
    assert stop_all_trainers(timeout=TIMEOUT)
    assert not run.trainer.is_alive and run.trainer.state == "stopped"
    assert read_status(run.run_dir.path)["state"] == "stopped"


def test_a_script_that_exits_while_training_ends_cleanly(tmp_path):
    # The atexit guard: no "terminate called without an active exception", status stopped.
    script = f"""
import sys
sys.path.insert(0, {str(Path(__file__).resolve().parents[2])!r})
from tests.train.test_resume import prepare
from pathlib import Path
run = prepare(Path({str(tmp_path)!r}), "script", epochs=100000)
run.trainer.start()
run.trainer.wait_for(lambda t: t.progress.step >= 3, 60)
print("leaving", flush=True)
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "terminate called" not in proc.stderr
    assert read_status(tmp_path / "runs" / "script")["state"] == "stopped"


def test_two_resumes_of_one_run_at_once_are_refused_but_one(tmp_path):
    run = prepare(tmp_path, "twice")
    stop_at(run.trainer, 4)
    first = resume_run(run.run_dir.path)  # holds the run's writer lock until it ends
    with pytest.raises(PrepareError, match="being written by another process"):
        resume_run(run.run_dir.path)
    finish(first.trainer)
    assert first.trainer.state == "finished", first.trainer.error
    # Once it ended, the run is free again (here: finished, so refused for that reason).
    with pytest.raises(PrepareError, match="has finished"):
        resume_run(run.run_dir.path)
    # The same --run-dir given to two runs at once: the second is refused too.
    from tui.core.train.runs import RunDir

    free = tmp_path / "free"
    holder = RunDir.at(free)
    with pytest.raises(FileExistsError, match="another process"):
        RunDir.at(free)
    holder.close()
