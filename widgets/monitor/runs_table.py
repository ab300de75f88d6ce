"""The monitor's list of the workspace's runs: name, state, last step, best val loss.

Rows are keyed by the run's folder, so the selected row names the run to overlay; a
mark shows which runs are overlaid on the plot.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual.widgets import DataTable

from tui.core.text import number_text

if TYPE_CHECKING:
    from tui.core.train.runs import RunInfo


class RunsTable(DataTable[str]):
    """Past and current runs, newest first."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.add_column("run", key="name")
        # Fixed width: a cleared DataTable keeps columns as wide as their widest content so
        # far, so an auto width would depend on whether "running" was ever listed.
        self.add_column("status", key="status", width=8)
        self.add_column("step", key="step")
        self.add_column("best val", key="best")
        self.add_column("shown", key="shown")

    def show(self, runs: Iterable[RunInfo], shown: Collection[str]) -> None:
        """Replace the rows, keeping the cursor's row number; ``shown`` are the names of
        the overlaid runs."""
        runs = list(runs)
        cursor = self.cursor_row
        self.clear()
        for r in runs:
            self.add_row(
                r.name,
                r.status.value,
                str(r.last_step or 0),
                number_text(r.best_val_loss),
                "✓" if r.name in shown else "",
                key=str(r.path),
            )
        if runs:
            self.move_cursor(row=min(cursor, len(runs) - 1))

    def selected_path(self) -> Path | None:
        """The folder of the run under the cursor; None when the list is empty."""
        if self.row_count == 0:
            return None
        key = self.coordinate_to_cell_key((self.cursor_row, 0)).row_key.value
        return Path(str(key))
