"""``dltui train``: headless training, its outputs, exit codes, and bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("tui.core.builder.spec")

from tui.cli import main
from tui.commands import train as headless
from tui.core.train.runs import load_checkpoint, read_status

REPO = Path(__file__).resolve().parent.parent

SPEC = {
    "format": 1,
    "input_shape": [2],
    "layers": [
        {"type": "Linear", "in_features": 2, "out_features": 16},
        {"type": "ReLU"},
        {"type": "Linear", "in_features": 16, "out_features": 2},
    ],
}


@pytest.fixture
def spec(tmp_path) -> str:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(SPEC))
    return str(path)


def test_train_writes_a_complete_run(tmp_path, spec, capsys):
    run = tmp_path / "run"
    code = main(["train", spec, "--data", "spirals:n=400", "--epochs", "2", "--run-dir", str(run)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "train loss:" in out and "val loss:" in out and "val accuracy:" in out
    assert f"run dir: {run}" in out
    # stderr is not a terminal here: one progress line per epoch.
    assert [line.split()[1] for line in err.splitlines() if line.startswith("epoch ")] == [
        "1/2",
        "2/2",
    ]
    names = sorted(p.name for p in run.iterdir())
    assert names == [
        "checkpoint-best.pt",
        "checkpoint-last.pt",
        "config.json",
        "metrics.jsonl",
        "model.py",
        "status.json",
    ]
    config = json.loads((run / "config.json").read_text())
    assert config["spec"] == SPEC and config["data"] == "spirals:n=400"
    train = config["train"]
    assert (train["epochs"], train["loss"], train["optimizer"]) == (2, "cross_entropy", "adam")
    assert {"lr", "batch_size", "seed", "val_split", "device"} <= set(train)
    assert {"torch", "python", "dltui"} <= set(config["versions"])
    assert "def build_model() -> nn.Sequential" in (run / "model.py").read_text()
    assert read_status(run)["state"] == "finished"
    assert load_checkpoint(run)["epoch"] == 2


def test_options_reach_the_config_and_regression_defaults_to_mse(tmp_path, capsys):
    spec = tmp_path / "sine.json"
    spec.write_text(
        json.dumps(
            {
                "format": 1,
                "input_shape": [1],
                "layers": [
                    {"type": "Linear", "in_features": 1, "out_features": 8},
                    {"type": "Tanh"},
                    {"type": "Linear", "in_features": 8, "out_features": 1},
                ],
            }
        )
    )
    args = ["train", str(spec), "--data", "sine:n=200", "--epochs", "1", "--lr", "0.01"]
    args += ["--optimizer", "sgd", "--batch-size", "16", "--seed", "7", "--val-split", "0.25"]
    args += ["--device", "cpu", "--workspace", str(tmp_path)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "val accuracy" not in out
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.endswith("-sine-mlp")
    train = json.loads((run / "config.json").read_text())["train"]
    assert train["loss"] == "mse" and train["optimizer"] == "sgd" and train["lr"] == 0.01
    assert (train["batch_size"], train["seed"], train["val_split"]) == (16, 7, 0.25)
    command = json.loads((run / "config.json").read_text())["command"]
    assert command[:2] == ["dltui", "train"] and command[command.index("--lr") + 1] == "0.01"


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--data", "spiral"], ["--data", "unknown data 'spiral'"]),
        (["--data", "nowhere/x.csv"], ["no such file"]),
        (["--data", "spirals:n=zz"], ["n=zz"]),
        (["--data", "sine"], ["input_shape is [2]", "[1]"]),
        (["--data", "spirals:classes=3"], ["outputs (B, 2) but the data has 3 classes"]),
        (["--data", "spirals", "--epochs", "0"], ["epochs must be at least 1"]),
        (["--data", "spirals", "--optimizer", "lion"], ["optimizer 'lion'"]),
        (["--data", "spirals", "--loss", "mse"], ["--loss cross_entropy"]),
        (["--data", "spirals", "--lr", "-1"], ["lr"]),
        (["--data", "spirals", "--val-split", "1.5"], ["val split"]),
        (["--data", "spirals", "--device", "tpu9"], ["device 'tpu9' is not a device name"]),
    ],
)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(tmp_path, spec, capsys, extra, words):
    workspace = tmp_path / "ws"
    run = tmp_path / "run"
    code = main(["train", spec, *extra, "--workspace", str(workspace), "--run-dir", str(run)])
    err = capsys.readouterr().err
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dltui: error: "), err
    for w in words:
        assert w in lines[0]
    assert not run.exists() and not workspace.exists()


def test_bad_spec_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": 1, "input_shape": [2], "layers": [}')
    assert main(["train", str(bad), "--data", "spirals", "--workspace", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dltui: error: ") and "bad.json:1:" in err
    assert not (tmp_path / "runs").exists()


def test_cuda_missing_is_bad_input(tmp_path, spec, capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    code = main(
        ["train", spec, "--data", "spirals", "--device", "cuda", "--run-dir", str(tmp_path / "r")]
    )
    assert code == 2 and "CUDA is not available" in capsys.readouterr().err


def test_run_dir_that_holds_a_run_is_refused(tmp_path, spec, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    code = main(["train", spec, "--data", "spirals:n=100", "--run-dir", str(run)])
    assert code == 2 and "already holds a run" in capsys.readouterr().err


def test_failed_run_exits_1(tmp_path, spec, capsys):
    run = tmp_path / "run"
    args = ["train", spec, "--data", "spirals:n=400", "--epochs", "20", "--lr", "1e30"]
    args += ["--optimizer", "sgd", "--run-dir", str(run)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "training failed: loss became" in err
    assert read_status(run)["state"] == "failed"


def test_ctrl_c_stops_cleanly_and_exits_130(tmp_path, spec, capsys, monkeypatch):
    real_join = headless.Trainer.join
    calls = {"n": 0}

    def join_then_interrupt(self, timeout=None):
        # The first wait in the progress loop is interrupted, as by ctrl+c after the
        # first few steps; later joins (the clean stop) behave normally.
        calls["n"] += 1
        if calls["n"] == 1:
            self.wait_for(lambda t: t.progress.step >= 3, timeout=30)
            raise KeyboardInterrupt
        return real_join(self, timeout)

    monkeypatch.setattr(headless.Trainer, "join", join_then_interrupt)
    run = tmp_path / "run"
    args = ["train", spec, "--data", "spirals:n=400", "--epochs", "1000", "--run-dir", str(run)]
    assert main(args) == 130
    assert "stopped" in capsys.readouterr().err
    status = read_status(run)
    assert status["state"] == "stopped" and status["step"] >= 3
    assert load_checkpoint(run)["step"] == status["step"]


def test_python_m_tui_train_subprocess(tmp_path, spec):
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(
        [sys.executable, "-m", "tui", "train", spec, "--data", "moons:n=200", "--epochs", "2",
         "--run-dir", str(run)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f"run dir: {run}" in proc.stdout
    assert read_status(run)["state"] == "finished"
    assert "epoch 2/2" in proc.stderr


def test_progress_line_is_rewritten_in_place_on_a_terminal():
    import io

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    from tui.core.train.config import TrainConfig
    from tui.core.train.data import load_data

    stream = Terminal()
    printer = headless._ProgressPrinter(stream, epochs=2)
    bundle = load_data("moons:n=100").split(0.2)
    model = torch.nn.Sequential(torch.nn.Linear(2, 2))
    trainer = headless.Trainer(model, bundle, TrainConfig(epochs=2, batch_size=20))
    printer.update(trainer)
    trainer.start()
    assert trainer.join(60)
    printer.update(trainer)
    printer.finish()
    text = stream.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and text.count("\n") == 1
    assert "epoch 2/2" in text and "acc " in text
