"""ctrl+r in the REPL: the history of every launch, in the shared filterable-list modal.

What stays here is what is particular to history: the choices are past entries (newest
first, one line each), the filter is :meth:`History.search`, and ctrl+r again moves to an
older match as it does in a shell.
"""

from __future__ import annotations

from collections.abc import Sequence

from textual.binding import Binding

from tui.core.repl.history import History
from widgets.common.dialogs import Choice, PickerDialog


def history_choice(entry: str) -> Choice:
    """A past entry as a one-line choice; ``…`` marks an entry of several lines."""
    first = entry.split("\n", 1)[0]
    return Choice(entry, first + (" …" if "\n" in entry else ""))


class HistorySearchScreen(PickerDialog):
    """Type to filter the history (newest first); Enter picks, Escape cancels."""

    BINDINGS = [Binding("ctrl+r", "move(1)", "Older match", show=False)]

    def __init__(self, history: History) -> None:
        def search(query: str, _choices: Sequence[Choice]) -> list[Choice]:
            return [history_choice(entry) for entry in history.search(query)]

        super().__init__(
            "Search history (Enter picks, Esc cancels)",
            [],
            placeholder="type part of a past entry",
            choose=search,
        )
