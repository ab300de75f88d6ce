"""Keys typed fast after a key that moves the focus land where the focus moved: the move
is done at once, not after the keys already queued (Widget.focus() is deferred)."""

from __future__ import annotations

from conftest import send_keys, wait_engine, wait_until
from textual.widgets import Input

from widgets.monitor.pane import MonitorPane


async def test_keys_after_e_go_into_the_form(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_engine(pilot)
        await pilot.press("f4")
        pane = app.query_one(MonitorPane)
        await wait_until(pilot, lambda: pane.plot is not None, "the monitor ready")
        pane.focus_default()
        await pilot.pause()
        second = app.query_one("#train-data", Input)
        # One burst: the tab is queued before e's focus move could run, as when typed fast.
        # Before the fix it went to the runs table, and the focus ended in the first field.
        send_keys(pilot, "e", "tab")
        await wait_until(pilot, lambda: app.focused is second, "the focus on the second field")
        for _ in range(3):
            await pilot.pause()
        assert app.focused is second
