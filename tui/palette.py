"""The command palette's entries, built from the panes' own key bindings.

A pane's keys are declared once, as Textual ``Binding`` objects with an ``id`` and a
description; the footer, the help screen and this palette all read them, so a key added
to a pane shows up in all three and the palette never repeats the key letters by hand.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widget import Widget


def _bindings(widget: Widget) -> Iterator[Binding]:
    for item in getattr(type(widget), "BINDINGS", []):
        if isinstance(item, Binding):
            yield item
        else:  # a (key, action, description) tuple
            yield Binding(*item)


def pane_commands(app: App, pane_id: str, label: str) -> Iterator[SystemCommand]:
    """One command per distinct action that the pane (or a widget inside it) binds to a key.

    Only dltui's own bindings count (they carry an ``id``); Textual's built-in widget keys
    (cursor movement in a text area, say) are not commands. A pane not mounted yet (the
    builder and monitor mount after the first frame) has no commands until it is.
    """
    try:
        pane = app.query_one(f"#{pane_id}", Widget)
    except NoMatches:
        return
    seen: set[tuple[type, str]] = set()
    for widget in [pane, *pane.query("*")]:
        keys: dict[str, list[str]] = {}
        found: dict[str, Binding] = {}
        for binding in _bindings(widget):
            if binding.id is None or not binding.description:
                continue
            if (type(widget), binding.action) in seen:
                continue
            found.setdefault(binding.action, binding)
            keys.setdefault(binding.action, []).append(app.get_key_display(binding))
        for action, binding in found.items():
            seen.add((type(widget), action))
            help_text = binding.tooltip or binding.description
            yield SystemCommand(
                f"{label}: {binding.description}",
                f"{help_text} ({' / '.join(dict.fromkeys(keys[action]))})",
                _runner(app, pane_id, widget, action),
            )


def _runner(app: App, pane_id: str, widget: Widget, action: str) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        # Show the pane first: an action such as "edit" opens a dialog over it.
        await app.run_action(f"show_pane('{pane_id}')")
        await app.run_action(action, widget)

    return run
