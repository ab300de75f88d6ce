"""The runs table updates a row in place: the cells change and only that row repaints."""

from __future__ import annotations

from pathlib import Path

from textual.app import App, ComposeResult
from textual.geometry import Region

from tui.core.train.config import RunState
from widgets.monitor.runs_table import RunsTable


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield RunsTable()


def _row_text(table: RunsTable, y: int) -> str:
    return "".join(segment.text for segment in table.render_line(y))


async def test_set_live_repaints_only_the_live_row(monkeypatch) -> None:
    app = _TableApp()
    async with app.run_test(size=(100, 12)) as pilot:
        table = app.query_one(RunsTable)
        for name in ("run-b", "run-a"):
            table.add_row(name, "dltui", "unknown", "0", "-", "-", "", key=f"/w/{name}")
        await pilot.pause()
        refreshed: list[tuple[Region, ...]] = []
        real = RunsTable.refresh

        def spy(self, *regions, **kwargs):  # type: ignore[no-untyped-def]
            refreshed.append(regions)
            return real(self, *regions, **kwargs)

        monkeypatch.setattr(RunsTable, "refresh", spy)
        table.set_live(Path("/w/run-a"), RunState.RUNNING, 1234)
        await pilot.pause()
        assert table.get_cell("/w/run-a", "step") == "1234"
        assert table.get_cell("/w/run-a", "status") == "running"
        assert table.get_cell("/w/run-b", "status") == "unknown"
        assert refreshed and all(len(r) == 1 and r[0].height == 1 for r in refreshed)
        assert "running" in _row_text(table, 2) and "1234" in _row_text(table, 2)
        assert "unknown" in _row_text(table, 1)


async def test_every_column_is_in_sight_at_80_columns() -> None:
    app = _TableApp()
    async with app.run_test(size=(80, 8)) as pilot:
        table = app.query_one(RunsTable)
        name = "2026-12-02_061136-spirals-mlp"  # 29 characters, as dltui names its runs
        table.add_row(name, "dltui", "finished", "130", "0.6204", "2m", "", key="/w/a")
        table.fit_columns()
        await pilot.pause()
        header = _row_text(table, 0)
        for label in ("run", "kind", "status", "step", "best val", "updated", "shown"):
            assert label in header, header
        assert len(header.rstrip()) <= 80
        row = _row_text(table, 1)
        assert "2026-12-02_061136" in row and "finished" in row and "2m" in row
        assert table.get_cell("/w/a", "name") == name  # cut on screen only
        await pilot.resize_terminal(140, 8)
        await pilot.pause()
        table.fit_columns()
        await pilot.pause()
        assert name in _row_text(table, 1)  # room again: the whole name
