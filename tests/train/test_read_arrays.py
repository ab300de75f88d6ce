"""MetricsReader.read_arrays: dltui's own lines parsed straight into arrays, and whatever
else a file holds read the careful way, always the same points as ``read`` gives."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tui.core.train.readers import MetricsReader

NAMES = st.sampled_from(["train/loss", "val/loss", "system/cpu_percent", "lr", "é/x"])
VALUES = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.none(), st.integers(-5, 5))


def _own(step: int, name: str, value: float | None, t: float) -> str:
    d = {"step": step, "epoch": 1, "time": t, "name": name, "value": value}
    return json.dumps(d, allow_nan=False, separators=(",", ":"))


OWN_LINE = st.builds(_own, st.integers(0, 10**6), NAMES, VALUES, st.floats(0, 2e9))
OTHER_LINE = st.one_of(
    st.just(""),
    st.just("not json"),
    st.just('{"step": 3, "epoch": 1, "time": 1.0, "name": "a", "value": 2}'),  # spaces
    st.just('{"name":"a","value":1,"step":4,"epoch":1,"time":2.0}'),  # another key order
    st.just('{"step":1e400,"epoch":1,"time":1.0,"name":"a","value":1}'),
    st.just('{"step":5,"epoch":1,"time":1.0,"name":"a","value":1.2.3}'),
    st.just('{"step":6,"epoch":2.0,"time":1.0,"name":"a","value":1}'),  # a whole float
    st.just('{"step":7,"epoch":2.5,"time":1.0,"name":"a","value":1}'),  # not a point
)


def _by_name(points) -> dict[str, tuple[list[int], list[float], list[float]]]:  # type: ignore[no-untyped-def]
    out: dict[str, tuple[list[int], list[float], list[float]]] = {}
    for p in points:
        s, t, v = out.setdefault(p.name, ([], [], []))
        s.append(p.step)
        t.append(p.time)
        v.append(p.value)
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(OWN_LINE, OWN_LINE, OWN_LINE, OTHER_LINE), max_size=40), st.booleans())
def test_arrays_are_the_points_read_gives(tmp_path_factory, lines: list[str], torn: bool) -> None:
    path = Path(tmp_path_factory.mktemp("m")) / "metrics.jsonl"
    text = "".join(line + "\n" for line in lines) + ('{"step":9,"epo' if torn else "")
    path.write_text(text)
    expected = _by_name(MetricsReader(path).read())
    reader = MetricsReader(path)
    got = reader.read_arrays()
    assert sorted(got) == sorted(expected)
    for name, (steps, times, values) in expected.items():
        a = got[name]
        assert a.steps.tolist() == steps
        assert np.allclose(a.times, times, rtol=0, atol=0)
        assert [math.isnan(v) for v in a.values.tolist()] == [math.isnan(v) for v in values]
        assert [v for v in a.values.tolist() if not math.isnan(v)] == [
            v for v in values if not math.isnan(v)
        ]
    # The torn last line waits for its end.
    with path.open("a") as fh:
        fh.write('ch":1,"time":1.0,"name":"late","value":1}\n' if torn else "")
    later = reader.read_arrays()
    assert ("late" in later) == torn


def test_many_lines_in_one_poll_are_arrays(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    n = 200_000
    lines = [
        _own(i, "train/loss" if i % 10 else "val/loss", 1.0 / (i + 1), 1e9 + i) for i in range(n)
    ]
    path.write_text("\n".join(lines) + "\n")
    got = MetricsReader(path).read_arrays()
    assert len(got["train/loss"].steps) + len(got["val/loss"].steps) == n
    assert got["val/loss"].steps[:3].tolist() == [0, 10, 20]
    assert got["train/loss"].steps.dtype == np.int64


def test_a_long_watched_run_is_read_a_bounded_chunk_a_drain(tmp_path: Path, monkeypatch) -> None:
    from tui.core.train.series import MetricSeries
    from widgets.monitor import follow
    from widgets.monitor.follow import WATCH_CHUNK, poll_watched

    monkeypatch.setattr(follow, "WATCH_BUDGET_S", 0.0)  # one chunk a drain, on any machine

    n = 120_000  # ~10 MB of lines: several drains' worth
    lines = [_own(i, "train/loss", 1.0 / (i + 1), 1e9 + i) for i in range(n)]
    (tmp_path / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    reader, train = MetricsReader(tmp_path), MetricSeries("train/loss")
    polls = []
    while True:
        poll = poll_watched(reader, tmp_path, train)
        got = poll.arrays.get("train/loss")
        if got is not None:
            train.extend_arrays(got.steps, got.values, got.times)
        polls.append(poll)
        if not poll.more:
            break
    assert len(polls) > 1 and polls[0].more  # not the whole file in one drain
    assert reader.offset <= (tmp_path / "metrics.jsonl").stat().st_size
    assert len(train) == n and train.last_step == n - 1
    assert f"{n - 1:,}" in polls[-1].text or str(n - 1) in polls[-1].text
    assert (tmp_path / "metrics.jsonl").stat().st_size > WATCH_CHUNK
