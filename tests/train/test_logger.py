"""The run logger for a user's own script: a round trip through dltui's readers."""

from __future__ import annotations

import json
import math

import pytest

from tui.core.train.config import RunState
from tui.core.train.logger import open_run
from tui.core.train.runs import MetricsReader, list_runs, read_config, read_status
from tui.core.train.sources import discover


def test_round_trip(tmp_path):
    with open_run(tmp_path / "runs" / "exp1", config={"lr": 1e-3, "layers": [64, 64]}) as run:
        assert read_status(run.path)["state"] == "running"
        for step in range(1, 6):
            run.log(step, **{"train/loss": 1.0 / step})
        run.log_dict(5, {"val/loss": 0.5, "val/accuracy": 0.75}, epoch=1)
        run.log(6, lr=float("nan"))
    assert run.path == tmp_path / "runs" / "exp1"
    status = read_status(run.path)
    assert status["state"] == "finished" and status["error"] is None and status["step"] == 6
    config = read_config(run.path)
    assert config["config"] == {"lr": 1e-3, "layers": [64, 64]}
    points = MetricsReader(run.path).read_all()
    loss = [p for p in points if p.name == "train/loss"]
    assert [p.step for p in loss] == [1, 2, 3, 4, 5]
    assert [p.value for p in loss] == pytest.approx([1.0 / s for s in range(1, 6)])
    assert {p.name: p.epoch for p in points}["val/accuracy"] == 1
    assert math.isnan(next(p for p in points if p.name == "lr").value)
    (info,) = list_runs(tmp_path)
    assert info.name == "exp1" and info.status == RunState.FINISHED and info.last_step == 6
    (src,) = discover(tmp_path / "runs")
    assert src.kind == "dltui" and src.poll()["train/loss"].steps.tolist() == [1, 2, 3, 4, 5]


def test_exception_marks_failed_and_propagates(tmp_path):
    with pytest.raises(ValueError), open_run(tmp_path / "r") as run:
        run.log(1, loss=0.1)
        raise ValueError("bad batch\nsecond line")
    status = read_status(run.path)
    assert status["state"] == "failed" and status["error"] == "ValueError: bad batch"
    assert [p.value for p in MetricsReader(run.path).read_all()] == [0.1]


def test_without_with_and_existing_folder(tmp_path):
    first = open_run(tmp_path / "r", config={"a": 1})
    first.log(1, x=1)
    first.close()
    first.close()  # twice: nothing
    with pytest.raises(RuntimeError):
        first.log(2, x=2)
    second = open_run(tmp_path / "r")
    assert second.path.name == "r-2"  # the first run is kept
    second.close(error="diverged")
    assert read_status(second.path)["state"] == "failed"
    assert read_status(second.path)["error"] == "diverged"
    third = open_run(tmp_path / "r")
    third.close(KeyboardInterrupt())
    assert read_status(third.path)["state"] == "stopped"
    assert json.loads((first.path / "config.json").read_text())["config"] == {"a": 1}


def test_flushed_within_a_second_without_more_logging(tmp_path):
    import time

    run = open_run(tmp_path / "r", flush_interval=0.2)
    try:
        run.log(1, x=1.0)
        reader = MetricsReader(run.path)
        got: list = []
        end = time.monotonic() + 10
        while not got and time.monotonic() < end:
            got = reader.read()
            time.sleep(0.02)
        assert [p.value for p in got] == [1.0]
    finally:
        run.close()


def test_short_import_path():
    from tui.logger import open_run as short

    assert short is open_run
