"""The footer shows whole keys only: at 80 columns a key that would be cut behind the
command-palette key is hidden, and shown again when the terminal widens."""

from __future__ import annotations

from conftest import wait_until

from widgets.common.footer import KeysFooter


def _cells_used(footer: KeysFooter) -> int:
    keys, _ = footer._row()
    return max((k.region.right for k in keys if k.display), default=0) - footer.region.x


async def test_footer_never_cuts_a_key(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        footer = app.query_one(KeysFooter)
        for pane in ("repl", "builder", "monitor"):
            before = footer.fitted
            await pilot.press({"repl": "f2", "builder": "f3", "monitor": "f4"}[pane])
            await wait_until(pilot, lambda b=before: footer.fitted > b, f"{pane} footer fitted")
            await pilot.pause()
            keys, palette = footer._row()
            assert palette is not None and palette.display
            shown = [k for k in keys if k.display]
            assert shown, pane
            # Every shown key ends before the palette key starts: none is cut.
            assert max(k.region.right for k in shown) <= palette.region.x, pane
            # The palette key reaches the right edge: no cell of the row shows after it.
            assert palette.region.right == footer.region.right, pane
        hidden = [k for k in footer._row()[0] if not k.display]
        assert hidden, "at 80 columns the monitor has more keys than fit"
        before = footer.fitted
        await pilot.resize_terminal(160, 40)
        await wait_until(pilot, lambda: footer.fitted > before, "footer refitted")
        await pilot.pause()
        assert all(k.display for k in footer._row()[0])
