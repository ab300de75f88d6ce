"""The loss plot's legend: one row under the plot, drawn by dltui in the lines' colours,
never plotext's legend over the data (with a right axis in use it read ``L ▞▞ val``)."""

from __future__ import annotations

import time
from pathlib import Path

from conftest import wait_engine, wait_until

from tui.app import DltuiApp
from tui.core.repl.history import History
from tui.core.train.logger import MetricPoint
from tui.core.train.runs import RunDir
from widgets.monitor.loss_plot import legend_row
from widgets.monitor.pane import MonitorPane


def _run_with_val(ws: Path) -> Path:
    run = RunDir.create(ws, name="legend")
    now = time.time()
    points = [MetricPoint(s, 1 + s // 10, now + s, "train/loss", 1.0 / s) for s in range(1, 60)]
    for epoch in range(1, 6):
        points.append(MetricPoint(epoch * 10, epoch, now + epoch * 10, "val/loss", 0.9 / epoch))
        points.append(MetricPoint(epoch * 10, epoch, now + epoch * 10, "val/accuracy", 0.1 * epoch))
    run.append_metrics(points)
    run.close()
    return run.path


async def test_legend_is_a_row_of_its_own_at_80x24(tmp_path: Path) -> None:
    app = DltuiApp(
        device="cpu",
        workspace=tmp_path,
        history=History(tmp_path / "h.jsonl"),
        watch=str(_run_with_val(tmp_path)),
    )
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_engine(pilot)
        pane = app.query_one(MonitorPane)
        await wait_until(
            pilot,
            lambda: (
                pane.plot is not None
                and len(pane.series["val/loss"]) == 5
                and "val" in str(pane.plot.render())
            ),
            "the watched run plotted",
        )
        assert pane.plot is not None
        rows = str(pane.plot.render()).split("\n")
        assert len(rows) == pane.plot.size.height
        shown = "\n".join(rows)
        for glyph in ("L ▞", "⅃", "Γ", "⅂"):
            assert glyph not in shown, shown
        assert "━ train (smoothed)" in rows[-1] and "━ val" in rows[-1], shown
        assert rows[-1].rstrip().endswith("step"), rows[-1]
        # The legend is not drawn over the data: no plot row holds a legend label.
        assert not any("train (smoothed)" in row for row in rows[:-1]), shown


def test_legend_row_cuts_whole_entries_and_keeps_the_axis_name() -> None:
    entries = [("train (smoothed)", "cyan"), ("val", "yellow"), ("val acc (right)", "green")]
    row = legend_row(entries, "step", 30)
    assert row.plain.rstrip() == "━ train (smoothed)  ━ val step"
    assert legend_row(entries, "step", 23).plain.rstrip() == "━ train (smoothed) step"
    assert legend_row(entries, "step", 8).plain.strip() == "step"
    assert legend_row([], "step", 20).plain == "        step"
    assert all(legend_row(entries, "step", w).cell_len <= w for w in range(1, 80))
