"""The builder's layer table and the lines around it: what a user reads of a stack.

:class:`LayerTable` shows one row per layer (index, type, arguments, output shape,
parameters, share of the total); :func:`head_text`, :func:`totals_text` and
:func:`error_text` are the line above it and the two below. Shapes come from the
propagation rows; a row not propagated yet shows ``…``, a row below an error ``-``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from tui.core.text import human_bytes, shape_text

if TYPE_CHECKING:
    from tui.core.builder.propagate import RowResult, StackTotals
    from tui.core.builder.spec import LayerStack

SHAPE_COLUMN = 3
"""The output-shape column, the one an error sentence is cut to fit."""


class LayerTable(DataTable[str | Text]):
    """One row per layer of a stack, with its propagated shape and parameters."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id, classes=classes)
        self.add_column("#", key="index")
        self.add_column("layer", key="layer")
        self.add_column("arguments", key="args")
        self.add_column("output shape", key="shape")
        # Numbers right-aligned, so that their magnitudes line up.
        self.add_column(Text("params", justify="right"), key="params")
        self.add_column(Text("share", justify="right"), key="share")

    def show_stack(
        self, stack: LayerStack, rows: list[RowResult], totals: StackTotals | None
    ) -> None:
        """Redraw every row of ``stack`` from ``rows`` (fewer rows: the rest pending).

        The cursor stays on its row number (on the last row if the stack got shorter).
        """
        # The catalogue imports torch; the builder pane is mounted before torch loads.
        from tui.core.builder.catalogue import format_arg

        cursor = self.cursor_row
        self.clear()
        # Shares of a sum cut short by an error row would mislead: none until it is fixed.
        total = totals.params_total if totals and totals.error_index is None else 0
        cells: list[list[str]] = []
        errors: dict[int, str] = {}
        for i, layer in enumerate(stack.layers):
            row = rows[i] if i < len(rows) else None
            args = ", ".join(f"{k}={format_arg(v)}" for k, v in layer.args.items())
            if row is None:
                shape, params, share = "…", "", ""
            elif row.error:
                shape, params, share = "", "", ""
                errors[i] = row.error
            elif row.blocked or row.output_shape is None:
                shape, params, share = "-", "", ""
            else:
                shape = shape_text(row.output_shape)
                params = f"{row.params_total:,}" if row.params_total else "0"
                share = (
                    f"{100 * row.params_total / total:.1f}%" if total and row.params_total else ""
                )
            cells.append([str(i), layer.type, args, shape, params, share])
        # An error is a sentence; whole, it would widen the shape column past the pane and
        # scroll params and share out of sight. The row gets what fits (the full sentence
        # and its fix are under the table, in error_text).
        room = self._shape_room(cells)
        for i, error in errors.items():
            # The layer column names the type already: drop it from the sentence.
            error = error.removeprefix(f"{stack.layers[i].type} ")
            cells[i][SHAPE_COLUMN] = _error_cell(error, room)
        for i, row_cells in enumerate(cells):
            *text, params, share = row_cells
            self.add_row(
                *text, Text(params, justify="right"), Text(share, justify="right"), key=str(i)
            )
        if stack.layers:
            self.move_cursor(row=min(cursor, len(stack.layers) - 1))

    def _shape_room(self, cells: list[list[str]]) -> int:
        """Columns left for the shape cell once the other columns have their width."""
        width = self.size.width or self.screen.size.width  # 0 while the pane is hidden
        pad = 2 * self.cell_padding
        others = sum(
            max([len(str(column.label)), *(len(row[c]) for row in cells)]) + pad
            for c, column in enumerate(self.columns.values())
            if c != SHAPE_COLUMN
        )
        # Leave room for the shape column's padding and a vertical scrollbar.
        return width - others - pad - 2


def head_text(stack: LayerStack, spec_path: Path | None, workspace: Path) -> str:
    """``input (1, 28, 28) float32   2 layers   spec: mlp.json``, one line."""
    where = f"   spec: {_short(spec_path, workspace)}" if spec_path else ""
    return (
        f"input {shape_text(stack.input_shape)} {stack.input_dtype}"
        f"   {_plural(len(stack.layers), 'layer')}{where}"
    )


def _short(path: Path, workspace: Path) -> str:
    # The head is one line: a spec inside the workspace is named relative to it.
    try:
        return str(path.relative_to(workspace))
    except ValueError:
        return str(path)


def totals_text(t: StackTotals) -> str:
    """Parameters, their fp32 memory, mult-adds and the output shape, on one line."""
    out = shape_text(t.output_shape) if t.output_shape is not None else "-"
    # Short enough for one line at 80 columns; trainable only when it differs, and
    # sums above an error row said to be partial.
    notes = []
    if t.params_trainable != t.params_total:
        notes.append(f"trainable {t.params_trainable:,}")
    if t.error_index is not None:
        notes.append(f"rows above {t.error_index}")
    note = f" ({', '.join(notes)})" if notes else ""
    return (
        f"params {t.params_total:,}{note} · {human_bytes(t.params_bytes)} fp32"
        f" · mult-adds {t.mult_adds:,} · output {out}"
    )


def error_text(rows: list[RowResult]) -> str:
    """The first failing row's whole sentence and the key that fixes it; "" if none."""
    bad = next((r for r in rows if r.error), None)
    if bad is None:
        return ""
    fix = ""
    if bad.fit:
        fix = " · press f to set " + ", ".join(f"{k}={v}" for k, v in bad.fit.items())
    # The engine's sentence already starts with the layer type.
    return f"✗ row {bad.index}: {bad.error}{fix}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _error_cell(error: str, width: int) -> str:
    """``✗ error`` in ``width`` columns: whole, or its first clause, or a pointer below
    (a clause cut to a dozen letters says nothing)."""
    for text in ("✗ " + error, "✗ " + error.split(": ", 1)[0]):
        if len(text) <= width:
            return text
    return "✗ see below"
