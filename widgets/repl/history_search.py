"""ctrl+r in the REPL: search the input history of every launch and pick an entry."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList
from textual.widgets.option_list import Option

from tui.core.repl.history import History


class HistorySearchScreen(ModalScreen[str | None]):
    """Type to filter the history (newest first); Enter picks, Escape cancels."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="history.cancel"),
        Binding("down", "move(1)", "Next match", show=False),
        Binding("up", "move(-1)", "Previous match", show=False),
        Binding("ctrl+r", "move(1)", "Older match", show=False),
    ]

    def __init__(self, history: History) -> None:
        super().__init__()
        self.history = history
        self._matches: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical(id="history-dialog"):
            yield Label("Search history (Enter picks, Esc cancels)", id="history-title")
            yield Input(placeholder="type part of a past entry", id="history-query")
            yield OptionList(id="history-matches")

    def on_mount(self) -> None:
        self._refilter("")
        self.query_one(Input).focus()

    @on(Input.Changed, "#history-query")
    def _query_changed(self, event: Input.Changed) -> None:
        self._refilter(event.value)

    def _refilter(self, query: str) -> None:
        self._matches = self.history.search(query)
        options = self.query_one(OptionList)
        options.clear_options()
        for entry in self._matches:
            first = entry.split("\n", 1)[0]
            label = first + (" …" if "\n" in entry else "")
            options.add_option(Option(label))
        if self._matches:
            options.highlighted = 0

    def action_move(self, delta: int) -> None:
        options = self.query_one(OptionList)
        if not self._matches:
            return
        current = options.highlighted or 0
        options.highlighted = max(0, min(len(self._matches) - 1, current + delta))

    @on(Input.Submitted, "#history-query")
    def _pick_highlighted(self) -> None:
        index = self.query_one(OptionList).highlighted
        self.dismiss(self._matches[index] if self._matches and index is not None else None)

    @on(OptionList.OptionSelected)
    def _pick_option(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._matches[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
