"""The command palette is built from the panes' bindings: every key a pane defines is a
command by the same name, and running it does what the key does."""

from __future__ import annotations

from collections.abc import Callable

from conftest import wait_engine, wait_until
from textual.binding import Binding
from textual.command import CommandList, CommandPalette
from textual.widget import Widget

from tui.app import PANES, DltuiApp


def _own_bindings(widget: Widget) -> set[str]:
    return {
        b.description
        for b in type(widget).BINDINGS
        if isinstance(b, Binding) and b.id is not None and b.description
    }


async def test_every_pane_binding_is_a_palette_command(
    make_app: Callable[..., DltuiApp],
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        for pane_id, label, _ in PANES:
            pane = app.query_one(f"#{pane_id}", Widget)
            expected = set()
            for widget in [pane, *pane.query("*")]:
                expected |= {f"{label}: {d}" for d in _own_bindings(widget)}
            assert expected, f"the {label} pane defines keys"
            assert expected <= titles, expected - titles
            assert f"{label} pane" in titles


async def test_a_pane_command_runs_the_pane_action(make_app: Callable[..., DltuiApp]) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        await pilot.press("f3")
        builder = app.query_one("#builder", Widget)
        before = len(builder.stack.layers)  # type: ignore[attr-defined]
        assert before > 0
        await pilot.press("f2")  # the command switches panes itself
        await pilot.press("ctrl+p")
        assert isinstance(app.screen, CommandPalette)
        for ch in "Builder: Delete":
            await pilot.press(ch if ch != " " else "space")
        command_list = app.screen.query_one(CommandList)
        await wait_until(pilot, lambda: command_list.option_count > 0, "palette matches")
        await pilot.press("enter")
        await wait_until(
            pilot,
            lambda: len(builder.stack.layers) == before - 1,  # type: ignore[attr-defined]
            "the layer to be deleted",
        )
        assert app.current_pane == "builder"  # type: ignore[attr-defined]
