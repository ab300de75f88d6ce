"""The follower of many run sources: polled on one thread, taken in bounded batches."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from tui.core.train.runs import RunDir
from tui.core.train.series import MetricPoint
from tui.core.train.sources.follow import SourceFollower


def tb_run(folder: Path, n: int, tag: str = "train/loss") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    w = EventFileWriter(str(folder))
    for i in range(n):
        v = summary_pb2.Summary.Value(tag=tag, simple_value=1.0 / (i + 1))
        w.add_event(
            event_pb2.Event(wall_time=1.7e9 + i, step=i, summary=summary_pb2.Summary(value=[v]))
        )
    w.close()


def test_follower_queues_and_hands_out_bounded_batches(tmp_path: Path) -> None:
    tb_run(tmp_path / "tb" / "a", 5000)
    rd = RunDir.at(tmp_path / "dl")
    rd.write_status("finished")
    rd.append_metrics([MetricPoint(s, 1, 1.0 + s, "train/loss", 1.0 / s) for s in range(1, 11)])
    rd.close()
    follower = SourceFollower.of([tmp_path])
    # The poll runs on its own thread, as the monitor's worker does.
    t = threading.Thread(target=follower.poll)
    t.start()
    t.join()
    assert follower.queued == 5010
    first = follower.take(max_points=1000)
    assert sum(len(p) for _, _, p in first.points) == 1000 and first.more
    assert first.rows is not None and {r.kind for r in first.rows} == {"tensorboard", "dltui"}
    got: dict[str, list[np.ndarray]] = {}
    for run, _, pts in first.points:
        got.setdefault(run, []).append(pts.steps)
    while True:
        batch = follower.take(max_points=1000)
        assert batch.rows is None  # unchanged: nothing for the runs list to repaint
        for run, _, pts in batch.points:
            got.setdefault(run, []).append(pts.steps)
        if not batch.more:
            break
    # Each run's points arrive whole and in order, over several takes.
    assert follower.queued == 0
    assert list(np.concatenate(got["tb/a"])) == list(range(5000))
    assert list(np.concatenate(got["dl"])) == list(range(1, 11))


def test_follower_finds_runs_that_appear_later(tmp_path: Path) -> None:
    tb_run(tmp_path / "a", 3)
    follower = SourceFollower.of([tmp_path], rescan_every=0.0)
    follower.poll()
    assert [r.name for r in follower.take().rows or []] == ["a"]
    tb_run(tmp_path / "b", 4)
    follower.poll()
    batch = follower.take()
    assert sorted(r.name for r in batch.rows or []) == ["a", "b"]
    assert [(run, len(p)) for run, _, p in batch.points] == [("b", 4)]


def test_a_big_log_is_read_in_slices_with_the_same_points(tmp_path: Path, monkeypatch) -> None:
    # A log bigger than one poll's byte budget: each poll reads a slice and says more is
    # there; the follower polls again until the queue is full, then takes the rest later.
    from tui.core.train.sources import follow, tensorboard
    from tui.core.train.sources.discover import discover

    tb_run(tmp_path / "tb" / "a", 3000)
    whole = {t: p.steps.copy() for t, p in discover([tmp_path / "tb"])[0].poll().items()}
    monkeypatch.setattr(tensorboard, "POLL_BYTES", 8192)
    monkeypatch.setattr(tensorboard, "_READ_CHUNK", 4096)
    src = discover([tmp_path / "tb"])[0]
    parts = [src.poll()["train/loss"].steps]
    assert src.backlog and 0 < len(parts[0]) < 3000
    while src.backlog:
        parts.append(src.poll().get("train/loss", parts[0][:0]).steps)
    assert np.array_equal(np.concatenate(parts), whole["train/loss"])

    monkeypatch.setattr(follow, "MAX_QUEUED", 1000)
    follower = SourceFollower.of([tmp_path / "tb"])
    follower.poll()
    assert 1000 <= follower.queued < 3000 and follower.backlog  # stopped at the bound
    got = []
    while follower.queued or follower.backlog:
        got += [pts.steps for _, _, pts in follower.take(500).points]
        follower.poll()
    assert np.array_equal(np.concatenate(got), whole["train/loss"])
