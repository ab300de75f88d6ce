"""Hostile run files: a bad metrics line or status.json never makes a reader raise, never
hides the other runs, and the run itself is still listed with what can be read.

Each bad record is tried alone in a run beside a good one; a hypothesis property then
feeds arbitrary bytes and JSON to MetricsReader, read_status, live_state and list_runs.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.core.train.config import RunState
from tui.core.train.readers import MetricsReader, list_runs, live_state, read_config, read_status

GOOD = '{"step": 1, "epoch": 1, "time": 1.0, "name": "train/loss", "value": 0.5}'

BAD_METRIC_LINES = [
    '{"step": 1e400, "epoch": 1, "time": 1.0, "name": "train/loss", "value": 0.5}',
    '{"step": "abc", "epoch": 1, "time": 1.0, "name": "train/loss", "value": 0.5}',
    '{"step": Infinity, "epoch": 1, "time": 1.0, "name": "train/loss", "value": 0.5}',
    '{"step": NaN, "name": "train/loss", "value": 0.5}',
    '{"step": [1], "name": "train/loss", "value": 0.5}',
    '{"step": true, "name": "train/loss", "value": 0.5}',
    '{"step": 1.5, "name": "train/loss", "value": 0.5}',
    '{"step": ' + "9" * 30 + ', "name": "train/loss", "value": 0.5}',
    '{"step": 1, "name": "train/loss", "value": "abc"}',
    '{"step": 1, "name": "train/loss", "value": [0.5]}',
    '{"step": 1, "name": "train/loss", "value": {"a": 1}}',
    '{"step": 1, "name": "train/loss", "value": ' + "9" * 400 + "}",
    '{"step": 1, "name": ["train/loss"], "value": 0.5}',
    '{"step": 1, "name": "", "value": 0.5}',
    '{"step": 1, "name": "train/loss", "value": 0.5, "epoch": 1e400}',
    '{"step": 1, "name": "train/loss", "value": 0.5, "time": "noon"}',
    '{"step": 1, "name": "train/loss", "value": 0.5, "time": -Infinity}',
    "[1]",
    "1",
    '"a string"',
    "null",
    "{",
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 50_000 + "1" + "}" * 50_000,
    "\x00\xff\xfe garbage",
    "x" * 200_000,
]

BAD_STATUS = [
    {"state": "running", "step": "abc"},
    {"state": "running", "step": 1e400},
    {"state": "running", "step": [1]},
    {"state": "running", "pid": 2**70, "host": socket.gethostname()},
    {"state": "running", "pid": -1, "host": socket.gethostname()},
    {"state": "running", "pid": 0, "host": socket.gethostname()},
    {"state": "running", "pid": "123", "host": socket.gethostname()},
    {"state": ["running"]},
    {"state": {"a": 1}},
    {"state": 7},
    {"state": "finished", "best_val_loss": "low"},
    {"state": "finished", "best_val_loss": [0.1]},
    {"state": "finished", "updated": "yesterday", "started": {"t": 1}},
    {"state": "failed", "error": {"nested": ["x"] * 10}},
    {"state": "failed", "error": "e" * 10**6},
    {"state": "running", "steps_per_epoch": 0},
    {"state": "running", "host": 5, "pid": 1},
]

RAW_STATUS = [
    "[1, 2, 3]",
    "garbage",
    "",
    '"running"',
    "{" * 100_000,
    "[" * 100_000 + "]" * 100_000,
    '{"state": "running", "step": Infinity, "pid": NaN}',
    '{"state": "running", "pad": "' + "x" * (2 << 20) + '"}',
    "\xff\xfe\x00",
]


def _run(ws: Path, name: str, metrics: str = GOOD + "\n", status: object = None) -> Path:
    path = ws / "runs" / name
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"created": 1.0, "data": "spirals"}))
    (path / "metrics.jsonl").write_text(metrics)
    if status is not None:
        text = status if isinstance(status, str) else json.dumps(status)
        (path / "status.json").write_text(text, errors="surrogateescape")
    return path


def _good_run(ws: Path) -> None:
    _run(ws, "good", status={"state": "finished", "step": 1, "best_val_loss": 0.4, "pid": 1})


@pytest.mark.parametrize("line", BAD_METRIC_LINES, ids=range(len(BAD_METRIC_LINES)))
def test_a_bad_metric_line_is_skipped_and_counted(tmp_path: Path, line: str) -> None:
    _good_run(tmp_path)
    path = _run(tmp_path, "bad", metrics=f"{GOOD}\n{line}\n{GOOD.replace('1,', '2,', 1)}\n")
    reader = MetricsReader(path)
    points = reader.read()
    assert [p.step for p in points] == [1, 2]
    assert reader.skipped == 1
    runs = {r.name: r for r in list_runs(tmp_path)}
    assert set(runs) == {"good", "bad"}
    assert runs["bad"].last_step == 2 and runs["good"].status == RunState.FINISHED


@pytest.mark.parametrize("status", BAD_STATUS, ids=range(len(BAD_STATUS)))
def test_a_bad_status_field_is_dropped_and_the_run_still_listed(
    tmp_path: Path, status: dict
) -> None:
    _good_run(tmp_path)
    _run(tmp_path, "bad", status=status)
    read = read_status(tmp_path / "runs" / "bad")
    assert read is not None
    for key in ("step", "pid", "best_val_loss", "updated", "started", "steps_per_epoch"):
        value = read.get(key)
        assert value is None or (type(value) in (int, float) and value == value), (key, value)
    assert isinstance(read.get("error"), (str, type(None))) and len(read.get("error") or "") <= 2000
    assert isinstance(live_state(read), RunState)
    runs = {r.name: r for r in list_runs(tmp_path)}
    assert set(runs) == {"good", "bad"}
    assert isinstance(runs["bad"].status, RunState)


@pytest.mark.parametrize("raw", RAW_STATUS, ids=range(len(RAW_STATUS)))
def test_an_unreadable_status_is_unknown_and_the_run_still_listed(tmp_path: Path, raw: str) -> None:
    _good_run(tmp_path)
    _run(tmp_path, "bad", status=raw)
    runs = {r.name: r for r in list_runs(tmp_path)}
    assert set(runs) == {"good", "bad"}
    assert runs["bad"].status in (RunState.UNKNOWN, RunState.RUNNING, RunState.DIED)
    assert runs["bad"].last_step == 1  # from metrics.jsonl, read instead


def test_a_2_70_pid_keeps_the_state_and_a_dead_pid_is_died(tmp_path: Path) -> None:
    host = socket.gethostname()
    assert live_state({"state": "running", "pid": 2**70, "host": host}) == RunState.RUNNING
    # A pid that cannot exist: above pid_max but within pid_t.
    assert live_state({"state": "running", "pid": 2**31 - 2, "host": host}) == RunState.DIED
    assert live_state({"state": "running", "pid": os.getpid(), "host": host}) == RunState.RUNNING
    assert live_state({"state": ["running"]}) == RunState.UNKNOWN
    assert live_state([1]) == RunState.UNKNOWN  # type: ignore[arg-type]


def test_a_line_with_no_newline_for_megabytes_is_dropped_with_bounded_memory(
    tmp_path: Path,
) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text(GOOD + "\n")
    reader = MetricsReader(path)
    assert len(reader.read()) == 1
    with open(path, "a") as fh:
        fh.write("y" * (1 << 20))
    assert reader.read() == [] and len(reader._partial) <= 1 << 16
    with open(path, "a") as fh:
        fh.write("\n" + GOOD + "\n")
    assert len(reader.read()) == 1 and reader.skipped >= 1


def test_config_readers_tolerate_garbage(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("[" * 100_000)
    assert read_config(tmp_path) is None
    (tmp_path / "config.json").write_text("[1]")
    assert read_config(tmp_path) is None
    assert read_config(tmp_path / ("x" * 5000)) is None
    assert read_status(tmp_path / ("x" * 5000)) is None
    assert MetricsReader(tmp_path / ("x" * 5000)).read() == []


# -- properties ---------------------------------------------------------------------------

_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
_json_values = st.recursive(
    _json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
_keys = st.sampled_from(["step", "epoch", "time", "name", "value", "state", "pid", "host", "x"])
_records = st.dictionaries(_keys, _json_values, max_size=7)
_lines = st.one_of(
    _records.map(lambda d: json.dumps(d, allow_nan=True)),
    _json_values.map(lambda v: json.dumps(v, allow_nan=True)),
    st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
)

PROPERTY = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@PROPERTY
@given(lines=st.lists(_lines, max_size=12), chunk=st.integers(min_value=32, max_value=4096))
def test_metrics_reader_never_raises(tmp_path: Path, lines: list[str], chunk: int) -> None:
    path = tmp_path / "m.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8", "surrogateescape") + b"\n")
    reader = MetricsReader(path)
    total = 0
    size = path.stat().st_size
    while reader.offset < size:  # torn lines at every chunk boundary
        for p in reader.read(max_bytes=chunk):
            assert isinstance(p.step, int) and isinstance(p.value, float)
            assert isinstance(p.name, str) and p.time == p.time
            total += 1
    assert total + reader.skipped >= 0


@PROPERTY
@given(status=st.one_of(_records, _json_values), raw=st.binary(max_size=300))
def test_status_readers_and_list_runs_never_raise(
    tmp_path: Path, status: object, raw: bytes
) -> None:
    ws = tmp_path / "ws"
    runs = ws / "runs"
    for name, data in (("json", json.dumps(status, allow_nan=True).encode()), ("raw", raw)):
        folder = runs / name
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "status.json").write_bytes(data)
        (folder / "metrics.jsonl").write_bytes(data + b"\n" + raw)
        (folder / "config.json").write_bytes(raw)
        read = read_status(folder)
        assert read is None or isinstance(read, dict)
        assert isinstance(live_state(read), RunState)
    listed = list_runs(ws)
    assert {r.name for r in listed} == {"json", "raw"}
    for r in listed:
        assert isinstance(r.status, RunState)
        assert r.last_step is None or isinstance(r.last_step, int)
        assert r.best_val_loss is None or isinstance(r.best_val_loss, float)
