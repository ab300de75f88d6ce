"""Run directories: naming, atomic writes, metrics follow-up with torn lines, listing."""

from __future__ import annotations

import json
import math
import os
import re
import time

import pytest
import torch
from torch import nn

from tui.core.train import runs as runs_mod
from tui.core.train.runs import (
    MetricsReader,
    RunDir,
    list_runs,
    load_checkpoint,
    read_config,
    read_status,
)
from tui.core.train.series import MetricPoint


def test_create_names_are_dated_labelled_and_unique(tmp_path):
    a = RunDir.create(tmp_path, label="spirals-mlp")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}_\d{6}-spirals-mlp", a.name)
    assert a.path.parent == tmp_path / "runs" and a.path.is_dir()
    b = RunDir.create(tmp_path, name="exp")
    c = RunDir.create(tmp_path, name="exp")
    assert (b.name, c.name) == ("exp", "exp-2")
    assert RunDir.create(tmp_path, name="a/b c").name == "a-b-c"  # no path tricks
    with pytest.raises(ValueError):
        RunDir.create(tmp_path, name="///")


def test_at_refuses_a_folder_holding_a_run(tmp_path):
    run = RunDir.at(tmp_path / "mine")
    run.write_config({"x": 1})
    with pytest.raises(FileExistsError):
        RunDir.at(tmp_path / "mine")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileExistsError):
        RunDir.at(tmp_path / "afile")


def test_writes_are_atomic_and_leave_no_temporary_files(tmp_path, monkeypatch):
    run = RunDir.at(tmp_path / "r")
    run.write_config({"lr": 0.1, "bad": math.nan})
    run.write_status("running", step=3)
    assert read_config(run.path) == {"lr": 0.1, "bad": None}  # strict JSON: NaN -> null
    status = read_status(run.path)
    assert status["state"] == "running" and status["step"] == 3 and status["error"] is None

    # A failure during the write leaves the old file whole and no temporary behind.
    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(runs_mod.os, "replace", broken_replace)
    with pytest.raises(OSError):
        run.write_status("failed", error="boom")
    monkeypatch.undo()
    assert read_status(run.path)["state"] == "running"
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "status.json"]
    with pytest.raises(ValueError):
        run.write_status("exploded")


def test_status_write_never_shows_a_partial_file(tmp_path):
    # os.replace swaps whole files: a reader polling during many writes never sees
    # anything but complete JSON.
    run = RunDir.at(tmp_path / "r")
    run.write_status("running", step=0)
    seen = 0
    for i in range(200):
        run.write_status("running", step=i, padding="x" * 5000)
        data = json.loads((run.path / "status.json").read_text())
        seen += data["step"] == i
    assert seen == 200


def test_metrics_flushed_by_time_and_on_close(tmp_path):
    run = RunDir.at(tmp_path / "r")
    run.flush_interval = 3600.0  # only explicit flushes
    run.append_metrics([MetricPoint(1, 1, 0.0, "train/loss", 0.5)])
    assert MetricsReader(run.path).read() == []  # still buffered
    run.flush()
    assert len(MetricsReader(run.path).read()) == 1

    run.flush_interval = 0.0  # every append is past the interval
    run.append_metrics([{"step": 2, "epoch": 1, "time": 0.0, "name": "train/loss", "value": 0.4}])
    assert [p.step for p in MetricsReader(run.path).read()] == [1, 2]
    run.close()


def test_metrics_reader_follows_incrementally_and_tolerates_a_torn_line(tmp_path):
    path = tmp_path / "metrics.jsonl"
    reader = MetricsReader(path)
    assert reader.read() == []  # no file yet
    line1 = json.dumps({"step": 1, "epoch": 1, "time": 1.0, "name": "train/loss", "value": 2.0})
    line2 = json.dumps({"step": 2, "epoch": 1, "time": 2.0, "name": "train/loss", "value": None})
    with open(path, "w") as fh:
        fh.write(line1 + "\n" + line2[:17])  # a writer caught mid-line
    first = reader.read()
    assert [p.step for p in first] == [1]
    offset = reader.offset
    assert reader.read() == []  # nothing new
    with open(path, "a") as fh:
        fh.write(line2[17:] + "\n")
        fh.write("not json\n")
        fh.write('{"step": 3}\n')  # incomplete record
    second = reader.read()
    assert [p.step for p in second] == [2] and math.isnan(second[0].value)
    assert reader.offset > offset and reader.skipped == 2
    # A rewritten (shorter) file is read from the start.
    path.write_text(line1 + "\n")
    assert [p.step for p in reader.read()] == [1]
    assert len(reader.read_all()) == 1


def test_metrics_reader_small_chunks_reassemble_lines(tmp_path):
    path = tmp_path / "metrics.jsonl"
    points = [MetricPoint(i, 1, float(i), "train/loss", 1.0 / i) for i in range(1, 51)]
    run = RunDir(tmp_path)
    run.append_metrics(points)
    run.close()
    reader = MetricsReader(path)
    got = []
    for _ in range(10_000):
        got += reader.read(max_bytes=7)
        if reader.offset == os.path.getsize(path):
            break
    assert got == points


def test_checkpoint_roundtrip_weights_only(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    model(torch.randn(5, 3)).sum().backward()
    opt.step()
    run = RunDir.at(tmp_path / "r")
    path = run.save_checkpoint("best", model, opt, step=7, epoch=2, val_loss=0.5)
    assert path.name == "checkpoint-best.pt"
    assert not [p for p in run.path.iterdir() if p.name.endswith(".tmp")]
    ckpt = load_checkpoint(path)
    assert (ckpt["step"], ckpt["epoch"], ckpt["val_loss"]) == (7, 2, 0.5)
    clone = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    clone.load_state_dict(ckpt["model"])
    x = torch.randn(6, 3)
    torch.testing.assert_close(clone(x), model(x))
    opt2 = torch.optim.Adam(clone.parameters(), lr=0.01)
    opt2.load_state_dict(ckpt["optimizer"])
    run.save_checkpoint("last", model, None, 1, 1)
    assert load_checkpoint(run.path)["optimizer"] is None  # a folder means checkpoint-last
    with pytest.raises(ValueError):
        run.save_checkpoint("middle", model, opt, 1, 1)


def test_list_runs_newest_first_with_status_and_metrics(tmp_path):
    assert list_runs(tmp_path) == []
    old = RunDir.create(tmp_path, name="old")
    old.write_config({"created": time.time() - 100})
    # No step/best in status: they come from scanning metrics.jsonl.
    old.append_metrics(
        [
            MetricPoint(10, 1, 0.0, "train/loss", 1.0),
            MetricPoint(10, 1, 0.0, "val/loss", 0.8),
            MetricPoint(20, 2, 0.0, "val/loss", 0.6),
            MetricPoint(20, 2, 0.0, "val/loss", math.nan),
        ]
    )
    old.close()
    old.write_status("failed", error="loss became NaN at step 21")
    new = RunDir.create(tmp_path, name="new")
    new.write_config({"created": time.time()})
    new.write_status("finished", step=500, best_val_loss=0.1)
    (tmp_path / "runs" / "empty-folder").mkdir()
    (tmp_path / "runs" / "stray.txt").write_text("x")

    infos = list_runs(tmp_path)
    assert [i.name for i in infos] == ["new", "old"]
    assert (infos[0].status, infos[0].last_step, infos[0].best_val_loss) == ("finished", 500, 0.1)
    assert (infos[1].status, infos[1].last_step, infos[1].best_val_loss) == ("failed", 20, 0.6)
    assert infos[1].error.startswith("loss became NaN")
    assert infos[0].started > infos[1].started


def test_readers_tolerate_missing_and_corrupt_files(tmp_path):
    assert read_status(tmp_path) is None
    (tmp_path / "status.json").write_text("{not json")
    assert read_status(tmp_path) is None
    (tmp_path / "config.json").write_text("[1, 2]")
    assert read_config(tmp_path) is None


def test_readers_and_series_import_without_torch():
    # `dltui watch` and the run list must not wait ~1.5 s for torch.
    import subprocess
    import sys
    from pathlib import Path

    code = "import sys, tui.core.train.runs, tui.core.train.series; print('torch' in sys.modules)"
    root = Path(__file__).resolve().parent.parent
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_list_runs_reports_a_run_whose_writer_died(tmp_path):
    import subprocess
    import sys

    # A process that has exited: its pid is free (reuse within the test is unlikely).
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    dead = RunDir.create(tmp_path, name="dead")
    dead.write_status("running")
    status = json.loads((dead.path / "status.json").read_text())
    status["pid"] = child.pid
    (dead.path / "status.json").write_text(json.dumps(status))
    alive = RunDir.create(tmp_path, name="alive")
    alive.write_status("running")  # written by this very process
    states = {r.name: r.status for r in list_runs(tmp_path)}
    assert states == {"dead": "died", "alive": "running"}
