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
