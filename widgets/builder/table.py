"""The builder's layer table and the lines around it: what a user reads of a stack.

:class:`LayerTable` shows one row per layer (index, type, arguments, output shape,
parameters, mult-adds, share of the total); :func:`head_text`, :func:`totals_text` and
:func:`error_text` are the line above it and the two below. Shapes come from the
propagation rows; a row not propagated yet shows ``…``, a row below an error ``-``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import DataTable

from tui.core.text import human_bytes, shape_text
from widgets.builder.columns import Layout, RowCells, fit_columns

if TYPE_CHECKING:
    from tui.core.builder.propagate import RowResult, StackTotals
    from tui.core.builder.spec import LayerStack


class LayerTable(DataTable[str | Text]):
    """One row per layer of a stack, with its propagated shape, parameters and mult-adds.

    The columns are laid out again on every render (:func:`~widgets.builder.columns.
    fit_columns`) from the current cells and the table's width, so that they shrink back
    after a wide stack and every column stays in sight at 80 columns.
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, id=id, classes=classes)
        self._set_columns(fit_columns([], 10**6))

    def _set_columns(self, layout: Layout) -> None:
        for key, label, right in zip(layout.keys, layout.labels, layout.right, strict=True):
            # Numbers right-aligned, so that their magnitudes line up.
            self.add_column(Text(label, justify="right") if right else label, key=key)

    def show_stack(
        self, stack: LayerStack, rows: list[RowResult], totals: StackTotals | None
    ) -> None:
        """Redraw every row of ``stack`` from ``rows`` (fewer rows: the rest pending).

        The cursor stays on its row number (on the last row if the stack got shorter).
        """
        cursor = self.cursor_row
        layout = fit_columns(row_cells(stack, rows, totals), self._room(len(stack.layers)))
        # Columns too: a DataTable column never narrows, and the labels change with width.
        self.clear(columns=True)
        self._set_columns(layout)
        for i, cells in enumerate(layout.rows):
            self.add_row(
                *(
                    Text(c, justify="right") if right else c
                    for c, right in zip(cells, layout.right, strict=True)
                ),
                key=str(i),
            )
        if stack.layers:
            self.move_cursor(row=min(cursor, len(stack.layers) - 1))

    def _room(self, n_rows: int) -> int:
        """Columns the cells may take: the width, less a vertical scrollbar if one shows."""
        width = self.size.width or self.screen.size.width  # 0 while the pane is hidden
        height = self.size.height or self.screen.size.height
        if n_rows + 1 > height:  # the header is a row too
            width -= self.styles.scrollbar_size_vertical
        return width


def row_cells(
    stack: LayerStack, rows: list[RowResult], totals: StackTotals | None
) -> list[RowCells]:
    """Each layer's texts in their long and short forms (see :mod:`widgets.builder.columns`).

    A row not propagated yet shows ``…``, a row below an error ``-``.
    """
    # The catalogue imports torch; the builder pane is mounted before torch loads.
    from tui.core.builder.catalogue import CATALOGUE, format_arg

    # Shares of a sum cut short by an error row would mislead: none until it is fixed.
    total = totals.params_total if totals and totals.error_index is None else 0
    out = []
    for i, layer in enumerate(stack.layers):
        row = rows[i] if i < len(rows) else None
        args = ", ".join(f"{k}={format_arg(v)}" for k, v in layer.args.items())
        # Required arguments by position, in the class's order, as torch code writes them.
        params = CATALOGUE[layer.type].params if layer.type in CATALOGUE else []
        required = [p.name for p in params if p.required and p.name in layer.args]
        short = [format_arg(layer.args[name]) for name in required] + [
            f"{k}={format_arg(v)}" for k, v in layer.args.items() if k not in required
        ]
        cells = RowCells(str(i), layer.type, args, ", ".join(short), "", None, None, "")
        if row is None:
            cells.shape = "…"
        elif row.error:
            # The layer column names the type already: drop it from the sentence.
            cells.error = row.error.removeprefix(f"{layer.type} ")
        elif row.blocked or row.output_shape is None:
            cells.shape = "-"
        else:
            cells.shape = shape_text(row.output_shape)
            cells.params = row.params_total
            cells.mult_adds = row.mult_adds
            if total and row.params_total:
                cells.share = f"{100 * row.params_total / total:.1f}%"
        out.append(cells)
    return out


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
    fixes = [f"add {bad.fit_insert} before it"] if bad.fit_insert else []
    if bad.fit:
        fixes.append("set " + ", ".join(f"{k}={v}" for k, v in bad.fit.items()))
    if not fixes:
        # The engine's sentence already starts with the layer type.
        return f"✗ row {bad.index}: {bad.error}"
    # The sentence's advice after ": " is what f does: say it once, so that the line
    # fits 80 columns.
    what = bad.error.split(": ", 1)[0]
    return f"✗ row {bad.index}: {what} · press f to {' and '.join(fixes)}"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
