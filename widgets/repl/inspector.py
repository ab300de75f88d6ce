"""The inspector beside the REPL: every tensor, Parameter, array and module in the namespace.

A table row per variable (name, shape, dtype, device, memory, numel, grad), per-device
memory totals under it, and the detail view of the highlighted row. Keys write ready
lines into the REPL input (``x = x.to("cuda")``): the move is visible code the user runs,
not a hidden action.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

from tui.core.repl.inspect import TensorStats, VarInfo
from tui.core.text import compact_count, human_bytes
from widgets.common.focus import focus_now
from widgets.repl.tensor_detail import TensorDetail

FLOAT_DTYPES = ["float32", "float16", "bfloat16", "float64"]
# Memory before numel, numel compact (25M, not 25,000,000) and grad only when some row
# has one: at 120x40 the inspector is ~54 columns and the last column was cut.
COLUMNS = ("name", "shape", "dtype", "device", "memory", "numel", "grad")


class Inspector(Vertical):
    """The namespace table, memory totals and the detail of the selected row."""

    BINDINGS = [
        Binding(
            "d",
            "to_device",
            "To device",
            id="inspector.device",
            tooltip="Write a line moving the selection to another device (again: next one)",
        ),
        Binding(
            "t",
            "to_dtype",
            "To dtype",
            id="inspector.dtype",
            tooltip="Write a line casting the selection to another dtype (again: next one)",
        ),
        Binding(
            "tab",
            "switch_focus",
            "Detail",
            id="inspector.detail",
            tooltip="Move between the table and the detail view (↑/↓/PgDn scroll it)",
        ),
        Binding("escape,i", "back", "Input", id="inspector.back", tooltip="Back to the REPL input"),
    ]

    @dataclass
    class CodeRequested(Message):
        """Write ``code`` into the REPL input."""

        code: str

    @dataclass
    class StatsRequested(Message):
        """The detail view needs statistics of ``name``."""

        name: str

    class BackRequested(Message):
        """Return focus to the input."""

    @dataclass
    class DetailToggled(Message):
        """Enter on a row: show (or hide) the detail view full size on narrow screens."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.rows: dict[str, VarInfo] = {}
        self.default_device = "cpu"
        self.cuda_available = False
        self._cycle: tuple[str, str, int] | None = None  # (name, what, index)

    def compose(self) -> ComposeResult:
        table: DataTable[str] = DataTable(id="vars", cursor_type="row", zebra_stripes=True)
        for label in COLUMNS:
            table.add_column(label, key=label)
        yield table
        yield Static("no tensors yet", id="mem-totals")
        yield TensorDetail(id="detail")

    @property
    def table(self) -> DataTable[str]:
        return self.query_one("#vars", DataTable)

    @property
    def selected(self) -> VarInfo | None:
        table = self.table
        if not self.rows or table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key
        except Exception:
            return None
        return self.rows.get(str(key.value))

    def update_rows(self, rows: list[VarInfo], totals: dict[str, int]) -> None:
        """Replace the table, keeping the cursor on the same name when it still exists."""
        table = self.table
        previous = self.selected.name if self.selected else None
        self.rows = {r.name: r for r in rows}
        cells = [
            (
                r.name,
                r.shape_text if r.shape is not None else type_label(r),
                r.dtype,
                r.device,
                human_bytes(r.nbytes),
                compact_count(r.numel),
                r.grad,
            )
            for r in rows
        ]
        shown = COLUMNS if any(r.grad for r in rows) else COLUMNS[:-1]
        # Columns sized here, from the cells: DataTable measures new rows only when idle,
        # and a frame drawn before that is cached at the old widths and never redrawn
        # (a module's "8 trainable" stayed "8 tr" until the cursor moved).
        table.clear(columns=True)
        for i, label in enumerate(shown):
            width = max([cell_len(label)] + [cell_len(row[i]) for row in cells])
            table.add_column(label, key=label, width=width)
        for row, r in zip(cells, rows, strict=True):
            table.add_row(*row[: len(shown)], key=r.name)
        if previous in self.rows:
            table.move_cursor(row=table.get_row_index(previous))
        summary = "  ".join(f"{dev}: {human_bytes(n)}" for dev, n in sorted(totals.items()))
        self.query_one("#mem-totals", Static).update(
            f"{len(rows)} variable{'s' if len(rows) != 1 else ''}   {summary}"
            if rows
            else "no tensors yet"
        )
        self._show_selected()

    @on(DataTable.RowHighlighted, "#vars")
    def _row_highlighted(self) -> None:
        self._show_selected()

    @on(DataTable.RowSelected, "#vars")
    def _row_selected(self) -> None:
        self.post_message(self.DetailToggled())

    def _show_selected(self) -> None:
        info = self.selected
        detail = self.query_one(TensorDetail)
        if info is None:
            detail.show_info(None)
            return
        detail.show_info(info)
        self.post_message(self.StatsRequested(info.name))

    def show_stats(self, stats: TensorStats) -> None:
        self.query_one(TensorDetail).show_stats(stats)

    def action_to_device(self) -> None:
        info = self.selected
        if info is None:
            self.notify("Select a variable first.", severity="warning")
            return
        if info.kind == "ndarray":
            self._emit(info, "device", [f"{info.name} = torch.from_numpy({info.name}).to(device)"])
            return
        targets = []
        for dev in (self.default_device, "cpu", "cuda" if self.cuda_available else None):
            if dev and dev not in targets and not info.device.startswith(dev):
                targets.append(dev)
        if not targets:
            targets = [self.default_device]
        self._emit(info, "device", [f'{info.name} = {info.name}.to("{dev}")' for dev in targets])

    def action_to_dtype(self) -> None:
        info = self.selected
        if info is None:
            self.notify("Select a variable first.", severity="warning")
            return
        if info.kind == "ndarray":
            self._emit(info, "dtype", [f"{info.name} = {info.name}.astype(np.float32)"])
            return
        # nn.Module.to() takes floating and complex dtypes only: int64 would be a line
        # that raises TypeError when run.
        targets = FLOAT_DTYPES if info.kind == "module" else [*FLOAT_DTYPES, "int64"]
        choices = [d for d in targets if d != info.dtype]
        self._emit(info, "dtype", [f"{info.name} = {info.name}.to(torch.{d})" for d in choices])

    def _emit(self, info: VarInfo, what: str, lines: list[str]) -> None:
        # Pressing the same key again on the same row cycles to the next target.
        index = 0
        if self._cycle and self._cycle[:2] == (info.name, what):
            index = (self._cycle[2] + 1) % len(lines)
        self._cycle = (info.name, what, index)
        self.post_message(self.CodeRequested(lines[index]))

    def action_switch_focus(self) -> None:
        # The detail view scrolls by keys once focused: at 80x24 its histogram and preview
        # are below the screen's end.
        detail = self.query_one(TensorDetail)
        if detail.has_focus:
            focus_now(self.table)
            return
        if not detail.display:  # narrow screens: the detail view is shown on demand
            self.post_message(self.DetailToggled())
        self.call_after_refresh(focus_now, detail)

    def action_back(self) -> None:
        self.post_message(self.BackRequested())


def type_label(info: VarInfo) -> str:
    return "module" if info.kind == "module" else info.kind
