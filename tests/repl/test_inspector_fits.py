"""The inspector at the sizes users have: every column of the table inside the pane at
120x40, and at 80x24 the detail view reachable by keys down to its histogram and preview."""

from __future__ import annotations

from conftest import run_code, wait_until
from textual.widgets import Static

from widgets.repl.inspector import Inspector
from widgets.repl.tensor_detail import TensorDetail

CODE = "x = torch.randn(1000, 1000); y = torch.zeros(3); big = torch.randn(5000, 5000)"


async def test_every_column_fits_at_120x40(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await run_code(pilot, app, CODE)
        table = app.query_one(Inspector).table
        await wait_until(pilot, lambda: table.row_count == 3, "three rows")
        await pilot.pause()
        labels = [str(c.label) for c in table.columns.values()]
        assert labels[-2:] == ["memory", "numel"]  # no grad column: no row has one
        assert table.virtual_size.width <= table.scrollable_content_region.width
        assert table.get_row("big")[-2:] == ["95.4 MiB", "25M"]


async def test_detail_scrolls_to_its_end_at_80x24(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await run_code(pilot, app, CODE)
        inspector = app.query_one(Inspector)
        detail = app.query_one(TensorDetail)
        await pilot.press("escape")
        assert inspector.table.has_focus
        await pilot.press("up", "up", "up")  # to x
        await pilot.press("tab")  # shows the detail view and focuses it
        await wait_until(pilot, lambda: detail.has_focus, "the detail view focused")
        preview = app.query_one("#detail-preview", Static)
        await wait_until(pilot, lambda: "..." in str(preview.render()), "the preview")
        await pilot.pause()
        assert detail.max_scroll_y > 0  # taller than the screen: keys must reach the rest
        await pilot.press("end")
        await wait_until(pilot, lambda: detail.scroll_y == detail.max_scroll_y, "the end")
        await pilot.pause()
        hist = detail.query_one("#detail-hist")
        assert preview.region.bottom <= detail.region.bottom and preview.region.height > 0
        assert hist.region.height > 0
        # Rows are not wrapped: each preview line is one row of the tensor.
        lines = str(preview.render()).splitlines()
        starts = ("[[", " [", " ...", "…")
        assert all(line.startswith(starts) for line in lines), lines
        await pilot.press("tab")
        assert inspector.table.has_focus
