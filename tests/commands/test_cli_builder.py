"""The headless builder commands, ``dltui summary`` and ``dltui export``, run in-process.

Good specs print a table or code on stdout; every bad spec prints one line on stderr
naming the place, writes nothing on stdout and exits with code 2.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

from tui.cli import main
from tui.core.builder.codegen import build_module
from tui.core.builder.presets import PRESETS
from tui.core.builder.spec import load_spec_file, save_spec_file

REPO = Path(__file__).resolve().parents[1]


def quickstart_torch() -> nn.Sequential:
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 512),
        nn.ReLU(),
        nn.Linear(512, 512),
        nn.ReLU(),
        nn.Linear(512, 10),
    )


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.fixture
def mlp_spec(tmp_path: Path) -> Path:
    path = tmp_path / "mlp.json"
    save_spec_file(PRESETS["Quickstart MLP"], path)
    return path


def test_summary_prints_the_layer_table(mlp_spec: Path, capsys) -> None:
    assert main(["summary", str(mlp_spec)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert "Layer (type)" in out and "Output Shape" in out and "Mult-Adds" in out
    assert f"Total params: {n_params(quickstart_torch()):,}" in out
    assert "Trainable params:" in out and "Non-trainable params: 0" in out
    assert "Params size (MB):" in out
    assert "[1, 512]" in out and "[1, 10]" in out


@pytest.mark.parametrize("shape", ["3,32,32", "3x32x32", "(3, 32, 32)"])
def test_summary_input_override(mlp_spec: Path, shape: str, capsys) -> None:
    assert main(["summary", str(mlp_spec), "--input", shape]) == 0
    out = capsys.readouterr().out
    real = nn.Sequential(nn.Linear(3 * 32 * 32, 512), nn.Linear(512, 512), nn.Linear(512, 10))
    assert f"Total params: {n_params(real):,}" in out
    assert "[1, 3072]" in out


def test_export_prints_code_that_builds_the_model(mlp_spec: Path, capsys) -> None:
    assert main(["export", str(mlp_spec)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    namespace: dict = {"__name__": "exported"}
    exec(compile(out, "exported.py", "exec"), namespace)
    model = namespace["build_model"]()
    assert repr(model) == repr(quickstart_torch())
    original = build_module(load_spec_file(mlp_spec))
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in original.state_dict().items()
    }


def spec(layers, input_shape=(1, 28, 28), **extra) -> str:
    return json.dumps({"format": 1, "input_shape": list(input_shape), "layers": layers, **extra})


BAD = {
    "json syntax": ('{"format": 1,\n  "input_shape": [1, 28, 28],,\n}', ":2:30: "),
    "unknown type": (
        spec([{"type": "Flatten"}, {"type": "Lineer", "out_features": 10}]),
        "layers[1]: unknown layer type 'Lineer' (did you mean 'Linear'?)",
    ),
    "missing argument": (
        spec([{"type": "Flatten"}, {"type": "Linear", "in_features": "auto"}]),
        "layers[1].out_features: missing required argument",
    ),
    "bad argument": (
        spec([{"type": "Conv2d", "in_channels": 1, "out_channels": 4, "kernel_size": "x"}]),
        "layers[0].kernel_size: expected int or tuple of 2 ints, got 'x'",
    ),
    "unknown argument": (
        spec([{"type": "Linear", "in_features": 784, "out_feature": 10}]),
        "layers[0].out_feature: Linear has no such argument (did you mean 'out_features'?)",
    ),
    "shape mismatch": (
        spec([{"type": "Linear", "in_features": 784, "out_features": 10}]),
        "layers[0] (Linear): Linear expects 784 features but receives (1, 28, 28): add Flatten",
    ),
    "format version": (spec([], format=2), "format: unsupported format 2"),
    "missing input_shape": ('{"format": 1, "layers": []}', "input_shape: missing"),
    "bad input_dtype": (spec([], input_dtype="int8"), "input_dtype: expected one of"),
    "not an object": ("[1, 2]", "spec: expected a JSON object"),
}


def assert_one_error_line(capsys, *words: str) -> None:
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("dltui: error: ")
    for word in words:
        assert word in err


@pytest.mark.parametrize("command", ["summary", "export"])
@pytest.mark.parametrize("case", list(BAD))
def test_bad_spec_exits_2_with_one_line(tmp_path: Path, command: str, case: str, capsys) -> None:
    text, words = BAD[case]
    path = tmp_path / "bad.json"
    path.write_text(text)
    assert main([command, str(path)]) == 2
    assert_one_error_line(capsys, str(path), words)


@pytest.mark.parametrize("command", ["summary", "export"])
def test_unreadable_file_exits_2(tmp_path: Path, command: str, capsys) -> None:
    missing = tmp_path / "nowhere.json"
    assert main([command, str(missing)]) == 2
    assert_one_error_line(capsys, str(missing), "cannot read")


@pytest.mark.parametrize("shape", ["1,a,28", "", "0x28"])
def test_bad_input_shape_exits_2(mlp_spec: Path, shape: str, capsys) -> None:
    assert main(["summary", str(mlp_spec), "--input", shape]) == 2
    assert_one_error_line(capsys, "--input", "expected a shape")


def test_input_override_that_breaks_a_row_names_the_row(tmp_path: Path, capsys) -> None:
    path = tmp_path / "cnn.json"
    save_spec_file(PRESETS["LeNet-style CNN"], path)
    assert main(["summary", str(path), "--input", "784"]) == 2
    assert_one_error_line(capsys, "layers[0] (Conv2d)", "expects (channels, height, width)")


def test_python_dash_m_tui_summary(mlp_spec: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tui", "summary", str(mlp_spec)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert f"Total params: {n_params(quickstart_torch()):,}" in done.stdout
    assert done.stderr == ""
