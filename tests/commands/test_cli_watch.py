"""``dltui watch PATH...`` on the command line: which paths open the monitor, and the
one-line errors (exit 2) for the others."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytest
from torch.utils.tensorboard import SummaryWriter

import tui.cli
from tui.cli import main
from tui.core.train.runs import RunDir
from tui.core.train.series import MetricPoint
from tui.core.train.sources import MISSING_TENSORBOARD


def tb_log(log_dir: Path, n: int = 5) -> Path:
    w = SummaryWriter(str(log_dir), flush_secs=5)
    for i in range(n):
        w.add_scalar("train/loss", 1.0 / (i + 1), i)
    w.close()
    return log_dir


def lightning_csv(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "metrics.csv"
    csv.write_text("epoch,step,train/loss,val/loss\n0,0,1.0,\n0,1,0.8,\n0,1,,0.9\n")
    return csv


def dltui_run(path: Path) -> Path:
    rd = RunDir.at(path)
    rd.write_status("finished")
    rd.append_metrics([MetricPoint(1, 1, 1.0, "train/loss", 0.5)])
    rd.close()
    return path


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[list[str] | None]:
    """What the TUI would have been opened with (it is not opened)."""
    calls: list[list[str] | None] = []

    def fake_tui(args: argparse.Namespace, watch: list[str] | None = None) -> int:
        calls.append(watch)
        return 0

    monkeypatch.setattr(tui.cli, "_run_tui", fake_tui)
    return calls


def test_watch_a_tensorboard_log_dir(tmp_path: Path, opened: list) -> None:
    tb_log(tmp_path / "runs" / "exp1")
    tb_log(tmp_path / "runs" / "exp2")
    assert main(["watch", str(tmp_path / "runs")]) == 0
    assert opened == [[str(tmp_path / "runs")]]


def test_watch_a_single_event_file_and_a_metrics_csv(tmp_path: Path, opened: list) -> None:
    event = next((tb_log(tmp_path / "tb")).glob("events.out.tfevents.*"))
    csv = lightning_csv(tmp_path / "lightning_logs" / "version_0")
    assert main(["watch", str(event), str(csv), "--workspace", str(tmp_path)]) == 0
    assert opened == [[str(event), str(csv)]]


def test_watch_a_mix_of_paths(tmp_path: Path, opened: list) -> None:
    dltui_run(tmp_path / "runs" / "mine")
    tb_log(tmp_path / "runs" / "theirs")
    lightning_csv(tmp_path / "lightning_logs" / "version_0")
    paths = [str(tmp_path / "runs"), str(tmp_path / "lightning_logs")]
    assert main(["watch", *paths]) == 0
    assert opened == [paths]


def test_watch_without_a_path_is_a_usage_error(capsys: pytest.CaptureFixture, opened: list) -> None:
    assert main(["watch"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "PATH" in err
    assert opened == []


def test_a_missing_path_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, opened: list
) -> None:
    tb_log(tmp_path / "tb")
    assert main(["watch", str(tmp_path / "tb"), str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip()
    assert err == f"dltui: error: {tmp_path / 'nope'}: no such file or folder"
    assert opened == []


def test_a_folder_with_no_runs_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture, opened: list
) -> None:
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "notes.txt").write_text("hi")
    assert main(["watch", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "no run found" in err and "empty" in err
    assert opened == []


def test_tensorboard_logs_without_the_package_say_how_to_install_it(
    tmp_path: Path, capsys: pytest.CaptureFixture, opened: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    tb_log(tmp_path / "tb")
    monkeypatch.setitem(sys.modules, "tensorboard.compat.proto", None)
    monkeypatch.setitem(sys.modules, "tensorboard.compat.proto.event_pb2", None)
    assert main(["watch", str(tmp_path / "tb")]) == 2
    assert capsys.readouterr().err.strip() == f"dltui: error: {MISSING_TENSORBOARD}"
    assert opened == []
    # Mixed with runs it can read, the monitor opens; those rows carry the hint.
    dltui_run(tmp_path / "mine")
    assert main(["watch", str(tmp_path / "tb"), str(tmp_path / "mine")]) == 0
