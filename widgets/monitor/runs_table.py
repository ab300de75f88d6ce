"""The monitor's list of runs: name, source kind, state, last step, a value, last update.

In the TUI it lists the workspace's dltui runs (the value column is the best validation
loss); under ``dltui watch PATH...`` it lists the watched runs of every kind (the value
is the last one of the plotted tag), updated cell by cell, only where the text changed.

Rows are keyed by the run's folder (its name under ``dltui watch``), so the selected row
names the run to overlay; a mark shows which runs are on the plot. The run this process
trains is shown with its trainer's own state (its status.json may not exist yet when the
list is read: it was listed as ``unknown``), updated in place when the state changes. A
row that fails to render shows the error in its place; the table and the app go on.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from tui.core.text import first_line, number_text
from tui.core.train.config import RunState
from widgets.monitor.watched import age_text

if TYPE_CHECKING:
    from tui.core.train.runs import RunInfo
    from widgets.monitor.watched import TableRow

COLUMNS = ("name", "kind", "status", "step", "value", "updated", "shown")

STEP_EVERY = 3.0  # seconds between updates of the live run's step cell


class RunsTable(DataTable[str]):
    """Past and current runs, newest first."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.add_column("run", key="name")
        # Fixed widths: a cleared DataTable keeps columns as wide as their widest content
        # so far, so an auto width would depend on whether "running" was ever listed.
        # The kind as wide as the kinds listed ("dltui" in the TUI, up to "tensorboard"
        # under dltui watch): at 80 columns the run names need the room.
        self.add_column("kind", key="kind")
        self.add_column("status", key="status", width=8)
        self.add_column("step", key="step", width=7)
        self.add_column("best val", key="value", width=10)
        self.add_column("updated", key="updated", width=7)
        self.add_column("shown", key="shown", width=5)
        self._shown_rows: dict[str, TableRow] = {}  # under dltui watch: what each row shows
        self._live: tuple[str, RunState, int] | None = None  # path, state, step
        self._live_at = 0.0

    def on_resize(self) -> None:
        self.fit_columns()

    def fit_columns(self) -> None:
        """Narrow the run column, when the names are wider than the room left, so that
        every column stays in sight (at 80 columns a 29-character run name pushed the
        last two off the screen); the names are then cut at the right."""
        name = self.columns.get(ColumnKey("name"))
        width = self.scrollable_content_region.width
        if name is None or width <= 0:
            return
        others = sum(c.get_render_width(self) for k, c in self.columns.items() if k != name.key)
        room = max(8, width - others - 2 * self.cell_padding)
        natural = max([3, *(len(str(self.get_cell(key, name.key))) for key in self.rows)])
        fits = natural <= room
        if fits == name.auto_width and (fits or name.width == room):
            return
        name.auto_width = fits
        if not fits:
            name.width = room
        self._update_count += 1  # a key of DataTable's row render cache
        self._require_update_dimensions = True
        self.refresh()

    def render_line(self, y: int) -> Strip:
        try:
            return super().render_line(y)
        except Exception as exc:
            text = f"(row could not be drawn: {first_line(exc)})"[: max(1, self.size.width)]
            return Strip([Segment(text, Style(color="red"))])

    def set_live(self, path: Path, state: RunState, step: int) -> None:
        """The state and step of the run this process trains; its row shows them (updated
        in place, only when they changed: each change repaints the row)."""
        live = (str(path), state, step)
        same_state = self._live is not None and self._live[:2] == live[:2]
        # The step alone refreshes the row every few seconds, not at every drain: the
        # progress line shows it live, and bytes to the terminal are the budget over SSH.
        if live == self._live or (same_state and time.monotonic() - self._live_at < STEP_EVERY):
            return
        self._live, self._live_at = live, time.monotonic()
        if live[0] in self.rows:
            self.set_cells(live[0], {"status": state.value, "step": str(step)})

    def show(self, runs: Iterable[RunInfo], shown: Collection[str]) -> None:
        """Replace the rows, keeping the cursor's row number; ``shown`` are the names of
        the overlaid runs."""
        runs = list(runs)
        cursor = self.cursor_row
        self.clear()
        self._shown_rows = {}
        self._set_value_label("best val")
        now = time.time()
        for r in runs:
            state, step = r.status, r.last_step or 0
            if self._live is not None and self._live[0] == str(r.path):
                _, state, step = self._live
            self.add_row(
                r.name,
                "dltui",
                state.value,
                str(step),
                number_text(r.best_val_loss),
                age_text(None if r.updated is None else now - r.updated),
                "✓" if r.name in shown else "",
                key=str(r.path),
            )
        if runs:
            self.move_cursor(row=min(cursor, len(runs) - 1))
        self.fit_columns()

    def show_watched(self, rows: list[TableRow], value_label: str) -> None:
        """The watched runs (``dltui watch``): only the cells whose text changed are
        updated; the rows are rebuilt only when runs appear or the filter changes."""
        self._set_value_label(value_label)
        keys = [r.key for r in rows]
        if keys != list(self._shown_rows):
            cursor = self.cursor_row
            self.clear()
            for r in rows:
                self.add_row(*(getattr(r, c) for c in COLUMNS), key=r.key)
            if rows:
                self.move_cursor(row=min(cursor, len(rows) - 1))
            self.fit_columns()
        else:
            for r in rows:
                old = self._shown_rows[r.key]
                changed = {c: getattr(r, c) for c in COLUMNS if getattr(r, c) != getattr(old, c)}
                if changed:
                    self.set_cells(r.key, changed)
        self._shown_rows = {r.key: r for r in rows}

    def set_cells(self, row_key: str, values: dict[str, Any]) -> None:
        """Set some cells of one row and repaint that row only. DataTable.update_cell
        repaints the whole table: over SSH every row of it, at each step update."""
        key = RowKey(row_key)
        row = self._data[key]
        for column, value in values.items():
            row[ColumnKey(column)] = value
        self._update_count += 1  # a key of DataTable's row render cache
        self.refresh_row(self.get_row_index(key))

    def _set_value_label(self, label: str) -> None:
        column = self.columns.get("value")  # type: ignore[call-overload]
        label = label[:10]
        if column is not None and column.label.plain != label:
            column.label = Text(label)
            self.refresh()

    def selected_key(self) -> str | None:
        """The key of the row under the cursor (a run's name under ``dltui watch``)."""
        if self.row_count == 0:
            return None
        return str(self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value)

    def selected_path(self) -> Path | None:
        """The folder of the run under the cursor; None when the list is empty."""
        if self.row_count == 0:
            return None
        key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        return Path(str(key))
