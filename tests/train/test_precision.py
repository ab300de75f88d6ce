"""Mixed precision (bf16 on the CPU; fp16 needs a GPU: tests/app/test_cuda.py) and
torch.compile, as a run uses them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from tui.cli import main
from tui.core.train.config import TrainConfig
from tui.core.train.data import load_data
from tui.core.train.runs import RunDir
from tui.core.train.trainer import Trainer


def mlp() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 2))


def test_bf16_on_the_cpu_runs_the_forward_in_bf16_and_still_learns():
    model = mlp()
    dtypes: set[torch.dtype] = set()
    model[0].register_forward_hook(lambda m, a, out: dtypes.add(out.dtype) if m.training else None)
    bundle = load_data("spirals:n=1000").split(0.2, seed=0)
    config = TrainConfig(epochs=30, batch_size=32, lr=1e-2, precision="bf16")
    trainer = Trainer(model, bundle, config)
    trainer._run()
    assert trainer.state == "finished", trainer.error
    assert dtypes == {torch.bfloat16}  # autocast ran the Linear in bf16
    assert all(p.dtype == torch.float32 for p in model.parameters())  # master weights
    assert trainer.progress.val_accuracy >= 0.85


def test_fp16_on_the_cpu_is_refused_in_one_line(tmp_path: Path, capsys):
    with pytest.raises(ValueError, match="fp16 needs a GPU"):
        TrainConfig(precision="fp16", device="cpu").validate()
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {"format": 1, "input_shape": [2],
             "layers": [{"type": "Linear", "in_features": 2, "out_features": 2}]}
        )
    )  # fmt: skip
    argv = ["train", str(spec), "--data", "spirals:n=64", "--device", "cpu"]
    assert main([*argv, "--precision", "fp16", "--workspace", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert "fp16 needs a GPU" in err and "\n" not in err
    assert main([*argv, "--precision", "16", "--workspace", str(tmp_path)]) == 2
    assert "precision '16' is not one of 32, bf16, fp16" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    run = tmp_path / "bf16"
    rc = main([*argv, "--precision", "bf16", "--epochs", "1", "--run-dir", str(run)])
    assert rc == 0
    assert json.loads((run / "config.json").read_text())["train"]["precision"] == "bf16"


def test_compile_trains_through_the_compiled_module(tmp_path: Path, monkeypatch):
    real_compile = torch.compile
    calls = {"compiled": 0}

    def quick_compile(model, **kwargs):
        # The eager backend: dynamo traces, nothing is built by a C++ compiler (which
        # takes half a minute per model on a small machine).
        compiled = real_compile(model, backend="eager")

        def forward(*args, **kw):
            calls["compiled"] += 1
            return compiled(*args, **kw)

        return forward

    monkeypatch.setattr(torch, "compile", quick_compile)
    run_dir = RunDir.create(tmp_path, label="compiled")
    bundle = load_data("spirals:n=200").split(0.2, seed=0)
    trainer = Trainer(mlp(), bundle, TrainConfig(epochs=2, batch_size=32, compile=True), run_dir)
    trainer._run()
    assert trainer.state == "finished", trainer.error
    assert calls["compiled"] >= trainer.progress.step + 1  # the trial batch, then each step
    state = torch.load(run_dir.path / "checkpoint-last.pt", weights_only=True)["model"]
    assert not any(k.startswith("_orig_mod.") for k in state)  # the plain module's keys


def test_a_platform_that_cannot_compile_fails_the_run_in_plain_words(monkeypatch):
    def broken_compile(model, **kwargs):
        def forward(*args, **kw):
            raise RuntimeError("InductorError: no working C++ compiler found\nlong detail")

        return forward

    monkeypatch.setattr(torch, "compile", broken_compile)
    bundle = load_data("spirals:n=200").split(0.2, seed=0)
    trainer = Trainer(mlp(), bundle, TrainConfig(epochs=1, compile=True))
    trainer._run()
    assert trainer.state == "failed" and trainer.progress.step == 0
    assert trainer.error == (
        "torch.compile cannot compile this model here (InductorError: no working C++ "
        "compiler found): train without --compile"
    )
