"""``dltui train --resume RUN_DIR`` on the command line: continues a stopped run to the
end; what cannot be resumed is one line on stderr and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

from tui.cli import main
from tui.core.train.runs import read_status

SPEC = {
    "format": 1,
    "input_shape": [2],
    "layers": [
        {"type": "Linear", "in_features": 2, "out_features": 8},
        {"type": "ReLU"},
        {"type": "Linear", "in_features": 8, "out_features": 2},
    ],
}


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err


def test_resume_on_the_command_line(tmp_path: Path, capsys, monkeypatch) -> None:
    assert main(["train"]) == 2
    assert "required: SPEC.json, --data" in one_line_error(capsys)
    assert main(["train", "--resume", str(tmp_path / "nope")]) == 2
    assert "not a dltui run" in one_line_error(capsys)

    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    run = tmp_path / "run"
    # Stopped by "ctrl+c" once the first epoch's checkpoint is written.
    from tui.commands import train as headless

    real_join = headless.Trainer.join
    interrupted = []

    def join_then_interrupt(self, timeout=None):
        if not interrupted:
            # Held once the first epoch is done (paused: it cannot run on to the end
            # before the "ctrl+c" lands, however fast the machine), then interrupted.
            assert self.wait_for(lambda t: t.progress.epochs_done >= 1, 60)
            self.pause()
            interrupted.append(True)  # once: a second ctrl+c would quit at once
            raise KeyboardInterrupt
        return real_join(self, timeout)

    monkeypatch.setattr(headless.Trainer, "join", join_then_interrupt)
    args = ["train", str(spec), "--data", "moons:n=200", "--epochs", "100", "--run-dir", str(run)]
    assert main([*args, "--num-threads", "1"]) == 130
    monkeypatch.undo()
    capsys.readouterr()
    assert read_status(run)["state"] == "stopped"

    for extra in (["--lr", "0.1"], [str(spec)], ["--data", "moons"], ["--batch-size", "8"]):
        assert main(["train", "--resume", str(run), *extra]) == 2, extra
        assert "--resume" in one_line_error(capsys)
    assert main(["train", "--resume", str(run), "--num-threads", "1"]) == 0
    out = capsys.readouterr()
    assert "resuming" in out.err and f"run dir: {run}" in out.out
    status = read_status(run)
    assert status["state"] == "finished" and status["step"] == 100 * 3  # 160 / 64: 3 a epoch
    assert main(["train", "--resume", str(run)]) == 2
    assert "has finished (100/100 epochs): nothing to resume" in one_line_error(capsys)
