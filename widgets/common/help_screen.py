"""F1 / ?: every key binding of the focused pane, with what it does."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Label


class HelpScreen(ModalScreen[None]):
    """A table of (key, action, description) rows; Escape, F1 or q closes it."""

    BINDINGS = [
        Binding("escape,f1,q,question_mark", "dismiss", "Close", id="help.close"),
    ]

    def __init__(self, title: str, rows: list[tuple[str, str, str]]) -> None:
        super().__init__()
        self._title = title
        self._rows = rows

    def compose(self) -> ComposeResult:
        with Vertical(id="help-dialog"):
            yield Label(self._title, id="help-title")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            yield Label("Esc / F1 / q closes", id="help-hint")

    def on_mount(self) -> None:
        self._fill(None)
        self.query_one(DataTable).focus()
        # Column widths need the dialog's size, known once it is laid out.
        self.call_after_refresh(self._fit)

    def on_resize(self) -> None:
        self.call_after_refresh(self._fit)

    def _fit(self) -> None:
        table = self.query_one(DataTable)
        width = table.scrollable_content_region.width
        if not width:
            return
        key_width = min(12, max((len(k) for k, _, _ in self._rows), default=3))
        action_width = min(22, max((len(a) for _, a, _ in self._rows), default=6))
        # Each column has one cell of padding either side; the rest is for the text.
        rest = width - key_width - action_width - 6
        self._fill((key_width, action_width, max(16, rest)))

    def _fill(self, widths: tuple[int, int, int] | None) -> None:
        # Fixed widths with rows of automatic height: a long description wraps inside the
        # dialog instead of running off its right edge (at 80x24 the TextArea's long
        # action names pushed "what it does" out of sight).
        table: DataTable[str] = self.query_one(DataTable)
        row = table.cursor_row
        table.clear(columns=True)
        names = ("key", "action", "what it does")
        for name, width in zip(names, widths or (None, None, None), strict=True):
            table.add_column(name, width=width)
        for cells in self._rows:
            table.add_row(*cells, height=None)
        if self._rows:
            table.move_cursor(row=min(row, len(self._rows) - 1))

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(None)
