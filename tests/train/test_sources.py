"""Run sources: TensorBoard event files (a live writer in another process, both scalar
encodings, several files, torn records, garbage), Lightning CSV (sparse, rewritten,
torn), discovery of mixed folders, and the tag helpers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorboard")

from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboard.util import tensor_util

from tui.core.train.config import RunState
from tui.core.train.runs import RunDir
from tui.core.train.series import MetricPoint
from tui.core.train.sources import (
    MISSING_TENSORBOARD,
    Discovery,
    LightningSource,
    TensorBoardMissing,
    TensorBoardSource,
    compile_filter,
    discover,
    filter_names,
    fuzzy_match,
    require_tensorboard,
    tag_groups,
)

ROOT = Path(__file__).resolve().parents[2]
DEADLINE_S = 60.0


def wait_for(cond, what: str, timeout: float = DEADLINE_S) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Acc:
    """Accumulates what successive polls return, per tag."""

    def __init__(self, src) -> None:
        self.src = src
        self.steps: dict[str, list[int]] = {}
        self.values: dict[str, list[float]] = {}

    def poll(self) -> Acc:
        for tag, pts in self.src.poll().items():
            self.steps.setdefault(tag, []).extend(pts.steps.tolist())
            self.values.setdefault(tag, []).extend(pts.values.tolist())
        return self

    def n(self, tag: str) -> int:
        return len(self.steps.get(tag, []))


def simple_event(tag: str, step: int, value: float, wall: float = 1.5e9) -> event_pb2.Event:
    return event_pb2.Event(
        wall_time=wall + step,
        step=step,
        summary=summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)]),
    )


def tensor_event(tag: str, step: int, value: float, metadata: bool) -> event_pb2.Event:
    v = summary_pb2.Summary.Value(tag=tag, tensor=tensor_util.make_tensor_proto(value))
    if metadata:
        v.metadata.plugin_data.plugin_name = "scalars"
    return event_pb2.Event(
        wall_time=1.5e9 + step, step=step, summary=summary_pb2.Summary(value=[v])
    )


def write_events(folder: Path, events, suffix: str = "") -> Path:
    w = EventFileWriter(str(folder), filename_suffix=suffix)
    for e in events:
        w.add_event(e)
    w.close()
    files = sorted(folder.glob(f"events.out.tfevents.*{suffix}"), key=os.path.getmtime)
    return files[-1]


# ---------------------------------------------------------------------------------------
# TensorBoard

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from torch.utils.tensorboard import SummaryWriter
    log, go = sys.argv[1], Path(sys.argv[2])
    w = SummaryWriter(log, flush_secs=1)
    for i in range(10):
        w.add_scalar("Loss/train", 1.0 / (i + 1), i)
        w.add_scalar("Loss/val", 2.0 / (i + 1), i, new_style=True)
    w.flush()
    end = time.monotonic() + 60
    while not go.exists() and time.monotonic() < end:
        time.sleep(0.02)
    for i in range(10, 25):
        w.add_scalar("Loss/train", 1.0 / (i + 1), i)
    w.flush()
    w.close()
    """
)


def test_summary_writer_in_another_process_is_followed(tmp_path):
    log, go = tmp_path / "tb" / "run1", tmp_path / "go"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    proc = subprocess.Popen([sys.executable, str(script), str(log), str(go)], cwd=ROOT)
    try:
        wait_for(lambda: log.is_dir() and any(log.iterdir()), "the event file")
        src = TensorBoardSource(log)
        acc = Acc(src)
        wait_for(lambda: acc.poll().n("Loss/train") >= 10 and acc.n("Loss/val") >= 10, "10")
        assert src.state == RunState.RUNNING
        go.touch()
        wait_for(lambda: acc.poll().n("Loss/train") >= 25, "the second batch")
        assert proc.wait(timeout=DEADLINE_S) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    acc.poll()
    assert acc.steps["Loss/train"] == list(range(25))
    assert acc.values["Loss/train"] == pytest.approx([1.0 / (i + 1) for i in range(25)])
    # new_style=True: tensor-encoded with the scalars plugin's metadata
    assert acc.values["Loss/val"] == pytest.approx([2.0 / (i + 1) for i in range(10)])
    assert src.tags == ["Loss/train", "Loss/val"] and src.error is None
    assert src.last_step == 24
    assert tag_groups(src.tags) == {"Loss": ["Loss/train", "Loss/val"]}
    # TensorBoard's own loader reads the same points
    ref = TensorBoardSource(log, reader="tensorboard").poll()
    got = TensorBoardSource(log).poll()
    for tag in ("Loss/train", "Loss/val"):
        assert np.array_equal(got[tag].steps, ref[tag].steps)
        assert np.array_equal(got[tag].values, ref[tag].values)
        assert np.array_equal(got[tag].times, ref[tag].times)


def test_tensor_encoded_scalars_with_metadata_only_first(tmp_path):
    events = [tensor_event("acc", i, 0.1 * i, metadata=(i == 0)) for i in range(5)]
    events.append(simple_event("loss", 7, 0.25))
    write_events(tmp_path, events)
    for reader in ("fast", "tensorboard"):
        out = TensorBoardSource(tmp_path, reader=reader).poll()
        assert out["acc"].steps.tolist() == [0, 1, 2, 3, 4], reader
        assert out["acc"].values == pytest.approx([0.1 * i for i in range(5)])
        assert out["loss"].values.tolist() == [0.25]


@pytest.mark.parametrize(
    "value",
    [
        np.float32(0.25),
        np.float64(1e-300),
        np.int32(-7),
        np.int64(2**40),
        np.float16(1.5),
        np.uint8(200),
        np.bool_(True),
        np.array([3.5], np.float32),
    ],
)
def test_tensor_scalars_decode_like_make_ndarray(value):
    from tui.core.train.sources.tensorboard import _tensor_scalar

    proto = tensor_util.make_tensor_proto(value)
    assert _tensor_scalar(proto) == float(tensor_util.make_ndarray(proto).reshape(-1)[0])
    content = tensor_util.make_tensor_proto(np.asarray(value))
    content.tensor_content = np.asarray(value).tobytes()
    for field in ("float_val", "double_val", "int_val", "int64_val", "half_val", "bool_val"):
        content.ClearField(field)
    assert _tensor_scalar(content) == float(np.asarray(value).reshape(-1)[0])
    assert _tensor_scalar(tensor_util.make_tensor_proto(np.zeros(3))) is None


def test_several_event_files_in_one_folder_and_new_ones(tmp_path):
    write_events(tmp_path, [simple_event("a", i, float(i)) for i in range(3)], suffix=".w1")
    src = TensorBoardSource(tmp_path)
    acc = Acc(src).poll()
    write_events(tmp_path, [simple_event("b", i, -float(i)) for i in range(4)], suffix=".w2")
    acc.poll()
    assert acc.n("a") == 3 and acc.n("b") == 4
    assert acc.poll().n("a") == 3  # nothing twice


def test_mixed_records_keep_file_order_and_edge_values(tmp_path):
    big = 2**40
    events = [
        simple_event("x", 0, 1.0),  # step 0: no step field on the wire
        tensor_event("x", 1, 2.0, metadata=True),
        simple_event("x", big, float("nan")),
        simple_event("x", -3, float("inf")),
        simple_event("a/" + "é" * 70, 5, 3.0),  # a long, non-ASCII tag
    ]
    write_events(tmp_path, events)
    fast = TensorBoardSource(tmp_path).poll()
    ref = TensorBoardSource(tmp_path, reader="tensorboard").poll()
    assert fast.keys() == ref.keys()
    for tag in ref:
        assert np.array_equal(fast[tag].steps, ref[tag].steps)
        assert np.array_equal(fast[tag].values, ref[tag].values, equal_nan=True)
    assert fast["x"].steps.tolist() == [0, 1, big, -3]


@pytest.mark.parametrize("reader", ["fast", "tensorboard"])
def test_torn_record_is_read_once_completed(tmp_path, reader):
    full = write_events(tmp_path / "src", [simple_event("t", i, float(i)) for i in range(50)])
    data = full.read_bytes()
    run = tmp_path / "run"
    run.mkdir()
    copy = run / full.name
    cut = len(data) - 7  # inside the last record
    copy.write_bytes(data[:cut])
    src = TensorBoardSource(run, reader=reader)
    first = src.poll()
    assert first["t"].steps.tolist() == list(range(49))
    with open(copy, "ab") as fh:
        fh.write(data[cut:])
    os.utime(copy, (time.time() + 1, time.time() + 1))
    second = src.poll()
    assert second["t"].steps.tolist() == [49]
    assert src.error is None


def test_garbage_event_file_never_raises(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "events.out.tfevents.x").write_bytes(rng.bytes(5000))
    (tmp_path / "events.out.tfevents.y").write_bytes(b"")
    write_events(tmp_path, [simple_event("ok", 1, 1.0)], suffix=".good")
    for reader in ("fast", "tensorboard"):
        src = TensorBoardSource(tmp_path, reader=reader)
        out = src.poll()
        assert out["ok"].values.tolist() == [1.0]
        assert src.poll() == {}
    bad = TensorBoardSource(tmp_path / "events.out.tfevents.x")
    assert bad.poll() == {} and "corrupt" in bad.error


def test_corrupt_data_crc_stops_that_file(tmp_path):
    f = write_events(tmp_path, [simple_event("t", i, float(i)) for i in range(10)])
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    src = TensorBoardSource(tmp_path)
    out = src.poll()
    assert len(out.get("t", ())) < 10
    assert src.error and "corrupt" in src.error


def test_missing_tensorboard_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard.compat.proto", None)
    monkeypatch.setitem(sys.modules, "tensorboard.compat.proto.event_pb2", None)
    with pytest.raises(TensorBoardMissing, match="pip install 'dltui\\[tensorboard\\]'"):
        require_tensorboard()
    src = TensorBoardSource(tmp_path)
    assert src.poll() == {} and src.error == MISSING_TENSORBOARD


# ---------------------------------------------------------------------------------------
# Lightning


def test_lightning_sparse_rewrite_and_torn_line(tmp_path):
    v = tmp_path / "lightning_logs" / "version_0"
    v.mkdir(parents=True)
    (v / "hparams.yaml").write_text("lr: 0.001\nname: mlp\n")
    csv = v / "metrics.csv"
    csv.write_text("epoch,step,train_loss\n0,0,1.0\n0,1,0.9\n0,2,0.8")  # last line torn
    src = LightningSource(v)
    acc = Acc(src).poll()
    assert acc.steps["train_loss"] == [0, 1] and src.hparams == {"lr": 0.001, "name": "mlp"}
    assert src.state == RunState.RUNNING
    # the torn line completes; then Lightning rewrites the file for a new key
    with open(csv, "a") as fh:
        fh.write("\n")
    acc.poll()
    assert acc.steps["train_loss"] == [0, 1, 2]
    csv.write_text(
        "epoch,step,train_loss,val_loss\n0,0,1.0,\n0,1,0.9,\n0,2,0.8,\n0,2,,1.5\n1,3,0.7,\n"
    )
    acc.poll()
    assert acc.steps["train_loss"] == [0, 1, 2, 3]
    assert acc.values["train_loss"] == [1.0, 0.9, 0.8, 0.7]
    assert acc.steps["val_loss"] == [2] and acc.values["val_loss"] == [1.5]
    assert acc.values["epoch"] == [0, 0, 0, 0, 1]
    # a rewrite to a longer file (size grew, header changed) is seen too
    csv.write_text(
        "epoch,lr,step,train_loss,val_loss\n0,,0,1.0,\n0,,1,0.9,\n0,,2,0.8,\n0,,2,,1.5\n"
        "1,,3,0.7,\n1,0.01,4,,\n1,,4,0.6,\n"
    )
    acc.poll()
    assert acc.steps["lr"] == [4] and acc.steps["train_loss"][-1] == 4
    assert acc.poll().n("train_loss") == 5 and src.error is None


def test_lightning_junk_never_raises(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "metrics.csv").write_bytes(rng.bytes(3000) + b"\n\x00,,\n")
    (tmp_path / "hparams.yaml").write_text("model:\n  layers: [1, 2]\n")
    src = LightningSource(tmp_path / "metrics.csv")
    src.poll()
    src.poll()
    assert src.hparams is None


# ---------------------------------------------------------------------------------------
# discovery


def _dltui_run(path: Path) -> None:
    rd = RunDir.at(path)
    rd.write_status("finished")
    rd.append_metrics([MetricPoint(1, 1, 1.0, "train/loss", 0.5)])
    rd.close()


def test_mixed_folder_is_discovered_with_kinds_and_rescanned(tmp_path):
    _dltui_run(tmp_path / "runs" / "dl1")
    write_events(tmp_path / "tb" / "exp_a", [simple_event("Loss/train", 1, 0.4)])
    write_events(tmp_path / "tb" / "exp_a" / "Loss_val", [simple_event("Loss", 1, 0.6)])
    v0 = tmp_path / "lightning_logs" / "version_0"
    (v0 / "checkpoints").mkdir(parents=True)
    (v0 / "metrics.csv").write_text("step,train_loss\n1,0.3\n")
    (tmp_path / ".hidden" / "runx").mkdir(parents=True)
    (tmp_path / ".hidden" / "runx" / "metrics.csv").write_text("step,a\n1,1\n")
    disc = Discovery([tmp_path])
    found = {s.name: s.kind for s in disc.scan()}
    assert found == {
        "runs/dl1": "dltui",
        "tb/exp_a": "tensorboard",
        "tb/exp_a/Loss_val": "tensorboard",
        "lightning_logs/version_0": "lightning",
    }
    polled = {s.name: s.poll() for s in disc.sources}
    assert polled["runs/dl1"]["train/loss"].values.tolist() == [0.5]
    assert polled["tb/exp_a"]["Loss/train"].values.tolist() == pytest.approx([0.4])
    assert polled["lightning_logs/version_0"]["train_loss"].values.tolist() == [0.3]
    states = {s.name: s.state for s in disc.sources}
    assert states["runs/dl1"] == RunState.FINISHED
    assert disc.scan() == []
    v1 = tmp_path / "lightning_logs" / "version_1"
    v1.mkdir()
    (v1 / "metrics.csv").write_text("step,x\n")
    assert [s.name for s in disc.scan()] == ["lightning_logs/version_1"]


def test_discover_single_files_and_run_folders(tmp_path):
    f = write_events(tmp_path / "tb", [simple_event("a", 1, 1.0)])
    (tmp_path / "v" / "metrics.csv").parent.mkdir()
    (tmp_path / "v" / "metrics.csv").write_text("step,a\n1,2\n")
    _dltui_run(tmp_path / "myrun")
    got = discover([f, tmp_path / "v" / "metrics.csv", tmp_path / "myrun", tmp_path / "nope"])
    assert [(s.name, s.kind) for s in got] == [
        (f.name, "tensorboard"),
        ("v", "lightning"),
        ("myrun", "dltui"),
    ]


def test_discovery_is_bounded(tmp_path):
    deep = tmp_path
    for i in range(8):
        deep = deep / f"d{i}"
    deep.mkdir(parents=True)
    (deep / "metrics.csv").write_text("step,a\n1,1\n")
    assert discover(tmp_path) == []
    assert Discovery([tmp_path], max_depth=8).scan()[0].kind == "lightning"


# ---------------------------------------------------------------------------------------
# tags and filters


def test_tag_helpers():
    assert tag_groups(["Loss/train", "lr", "Loss/val", "acc/top/1"]) == {
        "Loss": ["Loss/train", "Loss/val"],
        "lr": ["lr"],
        "acc": ["acc/top/1"],
    }
    tags = ["val/loss", "train/loss", "lr", "system/gpu0/util", "val/accuracy"]
    assert fuzzy_match("vl", tags)[0] == "val/loss"
    assert fuzzy_match("tl", tags)[0] == "train/loss"
    assert fuzzy_match("gpu", tags) == ["system/gpu0/util"]
    assert fuzzy_match("", tags) == tags
    assert fuzzy_match("zz", tags) == []
    names, err = filter_names("^exp_[ab]", ["exp_a", "exp_b", "exp_c"])
    assert names == ["exp_a", "exp_b"] and err is None
    names, err = filter_names("exp(", ["exp_a"])
    assert names == ["exp_a"] and err.startswith("bad filter 'exp(':") and "\n" not in err
    assert compile_filter("") == (None, None)
