"""The command line as a user types it: global options in any order, one-line errors, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tui.cli import build_parser, main

SPEC = {
    "format": 1,
    "input_shape": [4],
    "layers": [{"type": "Linear", "in_features": "auto", "out_features": 3}],
}


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(SPEC))
    return path


@pytest.mark.parametrize(
    "argv",
    [
        ["--workspace", "WS", "summary", "SPEC"],
        ["summary", "SPEC", "--workspace", "WS"],
        ["--device", "cpu", "summary", "--workspace", "WS", "SPEC"],
    ],
)
def test_global_options_before_or_after_the_command(argv: list[str]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.command, args.spec, args.workspace) == ("summary", "SPEC", "WS")


def test_an_option_before_the_command_is_not_reset_by_the_command() -> None:
    args = build_parser().parse_args(["--device", "cpu", "train", "S", "--data", "xor"])
    assert args.device == "cpu"
    args = build_parser().parse_args(["train", "S", "--data", "xor", "--device", "meta"])
    assert args.device == "meta"


def test_no_command_opens_the_tui_with_defaults() -> None:
    args = build_parser().parse_args([])
    assert (args.command, args.device, args.workspace) == (None, None, ".")


def test_workspace_before_summary_runs_it(spec: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["--workspace", str(spec.parent), "summary", str(spec)]) == 0
    assert "Linear" in capsys.readouterr().out
    assert main(["summary", str(spec), "--workspace", str(spec.parent)]) == 0


def test_a_bad_option_is_one_line_and_exit_2(capsys: pytest.CaptureFixture) -> None:
    assert main(["summary"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("dltui summary: error:")
    assert main(["train", "x.json", "--epochs", "many", "--data", "xor"]) == 2
    assert "invalid int value: 'many'" in capsys.readouterr().err


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("dltui ")
    assert main(["train", "--help"]) == 0
    assert "--data" in capsys.readouterr().out
