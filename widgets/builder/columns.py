"""Fitting the builder table's columns into the pane's width, whatever the stack.

A Textual ``DataTable`` column only ever grows: after a wide stack (a LeNet's
``in_channels=auto, out_channels=6, kernel_size=5, padding=2``) it keeps that width, and
at 80 columns the shape, params and share columns scroll out of sight. So the table is
laid out here, from the current cells, on every render: each column has forms from the
widest to the narrowest (``in_features=auto, out_features=512`` -> ``auto, 512``;
``(16, 10, 10)`` -> ``(16,10,10)``; ``401,920`` -> ``402k``), and :func:`fit_columns`
takes the steps of :data:`_STEPS` in order, least loss first, until the table fits:
shorter forms, then the share column dropped (the least needed: params say the same),
then the arguments cut with ``…``. No Textual here: only text in, text out.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from rich.cells import cell_len

from tui.core.text import compact_count

PAD = 1
"""The table's cell padding on each side of a cell."""


@dataclass
class RowCells:
    """One table row's texts in every form; ``error`` (a sentence without the layer type,
    which the layer column says) replaces the shape when set."""

    index: str
    layer: str
    args: str
    args_short: str
    shape: str
    params: int | None
    mult_adds: int | None
    share: str
    error: str | None = None


@dataclass
class Layout:
    """What the table shows: column keys, labels, right-alignment, and the rows' cells."""

    keys: list[str]
    labels: list[str]
    right: list[bool]
    rows: list[list[str]] = field(default_factory=list)

    @property
    def width(self) -> int:
        """Columns the table needs, padding included."""
        return _width(self.labels, self.rows)


def compact_shape(shape: str) -> str:
    """``(16, 10, 10)`` -> ``(16,10,10)``: the same dims, two columns fewer."""
    return shape.replace(", ", ",")


def cut(text: str, width: int) -> str:
    """``text`` in at most ``width`` columns, ending in ``…`` when cut (at a space when
    one is near the end: ``expects last dim 100…``, not ``expects last dim 100 b…``)."""
    if cell_len(text) <= width:
        return text
    out = ""
    for ch in text:
        if cell_len(out + ch) > width - 1:
            break
        out += ch
    space = out.rfind(" ")
    if space > len(out) // 2:
        out = out[:space].rstrip(" ,")
    return out + "…"


MIN_ERROR = 20
"""The narrowest an error clause is cut to; below, a clause cut to a dozen letters says
nothing, and the cell points to the whole sentence under the table instead."""


def error_cell(error: str, width: int) -> str:
    """``✗ error`` in ``width`` columns: whole, or its first clause (cut if it must be),
    or a pointer below."""
    clause = "✗ " + error.split(": ", 1)[0]
    for text in ("✗ " + error, clause):
        if cell_len(text) <= width:
            return text
    if width >= MIN_ERROR:
        return cut(clause, width)
    return "✗ see below" if width >= len("✗ see below") else "✗"


@dataclass
class _State:
    """The form each column is in; the steps change it one notch at a time."""

    short_args: bool = False
    short_labels: bool = False
    compact_numbers: bool = False
    compact_shapes: bool = False
    share: bool = True
    args_width: int | None = None
    layer_width: int | None = None


def _layout(rows: list[RowCells], s: _State) -> Layout:
    keys = ["index", "layer", "args", "shape", "params", "mult_adds"]
    labels = [
        "#",
        "layer",
        "args" if s.short_labels else "arguments",
        "output" if s.short_labels else "output shape",
        "params",
        "MACs" if s.short_labels else "mult-adds",
    ]
    right = [False, False, False, False, True, True]
    # An empty share column (an error row above makes shares meaningless) only takes room.
    share = s.share and any(r.share for r in rows)
    if share:
        keys.append("share")
        labels.append("share")
        right.append(True)
    count = compact_count if s.compact_numbers else (lambda n: f"{n:,}")
    out = Layout(keys, labels, right)
    for r in rows:
        args = r.args_short if s.short_args else r.args
        layer = r.layer
        if s.args_width is not None:
            args = cut(args, s.args_width)
        if s.layer_width is not None:
            layer = cut(layer, s.layer_width)
        shape = compact_shape(r.shape) if s.compact_shapes else r.shape
        cells = [
            r.index,
            layer,
            args,
            "" if r.error else shape,  # errors are cut to the room left, afterwards
            "" if r.params is None else count(r.params),
            "" if r.mult_adds is None else count(r.mult_adds),
        ]
        if share:
            cells.append(r.share)
        out.rows.append(cells)
    return out


def _width(labels: list[str], rows: list[list[str]]) -> int:
    return sum(
        max([cell_len(label), *(cell_len(row[c]) for row in rows)]) + 2 * PAD
        for c, label in enumerate(labels)
    )


MIN_ARGS, MIN_LAYER = 8, 7
"""The narrowest the arguments and layer columns are cut to: below that they say nothing."""


def _cut_args(rows: list[RowCells], s: _State, over: int) -> None:
    widest = max((cell_len(r.args_short if s.short_args else r.args) for r in rows), default=0)
    s.args_width = max(MIN_ARGS, widest - over)


def _cut_layer(rows: list[RowCells], s: _State, over: int) -> None:
    widest = max((cell_len(r.layer) for r in rows), default=0)
    s.layer_width = max(MIN_LAYER, widest - over)


def _set(name: str) -> Callable[[list[RowCells], _State, int], None]:
    def step(_rows: list[RowCells], s: _State, _over: int) -> None:
        setattr(s, name, name != "share")  # every flag turns on, except share, which goes

    return step


_STEPS: list[Callable[[list[RowCells], _State, int], None]] = [
    _set("short_args"),  # keyword -> positional, as nn.Linear(784, 512) is written
    _set("short_labels"),
    _set("compact_numbers"),
    _set("compact_shapes"),
    _set("share"),
    _cut_args,
    _cut_layer,
]


def fit_columns(rows: list[RowCells], width: int) -> Layout:
    """The widest layout of ``rows`` that fits ``width`` columns (the narrowest if none).

    Error cells get the shape column's room that is left once the rest fits.
    """
    state = _State()
    layout = _layout(rows, state)
    for step in _STEPS:
        if layout.width <= width:
            break
        step(rows, state, layout.width - width)
        layout = _layout(rows, state)
    shape = layout.keys.index("shape")
    others = layout.width - (_column_width(layout, shape) + 2 * PAD)
    room = max(width - others - 2 * PAD, _column_width(layout, shape))
    for r, cells in zip(rows, layout.rows, strict=True):
        if r.error:
            cells[shape] = error_cell(r.error, room)
    return layout


def _column_width(layout: Layout, c: int) -> int:
    return max([cell_len(layout.labels[c]), *(cell_len(row[c]) for row in layout.rows)])
