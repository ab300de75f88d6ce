"""The layer-stack builder pane (F3): compose an nn.Sequential by keyboard.

Each row shows the layer, its arguments, its output shape, parameters and share of the
total, computed by propagation on the meta device (``tui.core.builder.spec``) in a thread
worker, re-run only from the edited row down. A row whose input does not fit shows the
error in plain words; ``f`` applies the fitting value. Edits are undoable. The engine
module imports torch, so it is imported lazily: the pane shows that torch is loading
until the app says the engine is ready.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Static

if TYPE_CHECKING:
    from tui.core.builder.spec import LayerSpec, LayerStack, Propagator, RowResult, StackTotals

MAX_UNDO = 200


@dataclass
class Propagated(Message):
    """Rows and totals for stack version ``version`` (posted from the worker)."""

    version: int
    rows: list[RowResult]
    totals: StackTotals
    elapsed_ms: float


class StackBuilder(Vertical, can_focus=False):
    """A stack of layers as a table, with live shapes and parameter counts."""

    BINDINGS = [
        Binding("a", "add", "Add", id="builder.add", tooltip="Add a layer after the cursor"),
        Binding("e", "edit", "Edit", id="builder.edit", tooltip="Edit the layer's arguments"),
        Binding("f", "fit", "Fit", id="builder.fit", tooltip="Apply the value that fits the input"),
        Binding("x,delete", "delete", "Delete", id="builder.delete", tooltip="Delete the layer"),
        Binding("c", "duplicate", "Dup", show=False, id="builder.dup", tooltip="Duplicate"),
        Binding("K,shift+up", "move(-1)", "Move up", show=False, id="builder.up"),
        Binding("J,shift+down", "move(1)", "Move down", show=False, id="builder.down"),
        Binding("u,ctrl+z", "undo", "Undo", id="builder.undo", tooltip="Undo the last edit"),
        Binding("r,ctrl+y", "redo", "Redo", show=False, id="builder.redo", tooltip="Redo"),
        Binding(
            "i",
            "input_shape",
            "Input",
            show=False,
            id="builder.input",
            tooltip="Set the input shape",
        ),
        Binding("p", "preset", "Preset", id="builder.preset", tooltip="Start from a preset"),
        Binding(
            "m",
            "to_repl",
            "To REPL",
            id="builder.repl",
            tooltip="Send the module to the REPL as `model`",
        ),
        Binding(
            "E",
            "export",
            "Export",
            show=False,
            id="builder.export",
            tooltip="Export PyTorch code (shown and saved)",
        ),
        Binding(
            "s",
            "save",
            "Save",
            show=False,
            id="builder.save",
            tooltip="Save the stack as a JSON spec",
        ),
        Binding("o", "load", "Open", show=False, id="builder.load", tooltip="Load a JSON spec"),
    ]

    @dataclass
    class SendToRepl(Message):
        """Build the stack and bind it as ``model`` in the REPL namespace."""

        stack: LayerStack

    def __init__(self, workspace: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workspace = workspace
        self.stack: LayerStack | None = None
        self.rows: list[RowResult] = []
        self.totals: StackTotals | None = None
        self.version = 0
        self.propagated_version = 0
        """The stack version whose rows are shown: equal to ``version`` once caught up."""
        self.ready = False
        self.last_propagation_ms = 0.0
        self._undo: list[LayerStack] = []
        self._redo: list[LayerStack] = []
        self._propagator: Propagator | None = None
        self._propagate_lock = threading.Lock()
        # The stack whose rows the Propagator holds (touched under _propagate_lock only).
        self._propagated_stack: LayerStack | None = None
        self.spec_path: Path | None = None

    def compose(self) -> ComposeResult:
        yield Static("torch loading… the builder starts once it is ready", id="builder-head")
        table: DataTable[str | Text] = DataTable(id="stack", cursor_type="row", zebra_stripes=True)
        table.add_column("#", key="index")
        table.add_column("layer", key="layer")
        table.add_column("arguments", key="args")
        table.add_column("output shape", key="shape")
        # Numbers right-aligned, so that their magnitudes line up.
        table.add_column(Text("params", justify="right"), key="params")
        table.add_column(Text("share", justify="right"), key="share")
        yield table
        yield Static("", id="builder-totals")
        error = Static("", id="builder-error")
        error.display = False
        yield error

    @property
    def table(self) -> DataTable[str | Text]:
        return self.query_one("#stack", DataTable)

    def focus_table(self) -> None:
        self.table.focus()

    # -- start-up --
    def engine_ready(self) -> None:
        """Called by the app once torch is imported: warm the meta path, show a preset."""
        from tui.core.builder.spec import PRESETS, Propagator

        self._propagator = Propagator()
        self.ready = True
        if self.stack is None:
            self.stack = PRESETS["No hidden layer"].copy()
        self._propagate(0)

    # -- propagation --
    def _propagate(self, from_index: int) -> None:
        if not self.ready or self.stack is None:
            return
        self.version += 1
        self._run_propagation(self.stack.copy(), from_index, self.version)

    @work(thread=True, exit_on_error=False, group="builder")
    def _run_propagation(self, stack: LayerStack, from_index: int, version: int) -> None:
        import time

        from tui.core.builder.spec import totals

        assert self._propagator is not None
        # One propagation at a time: the Propagator's cached rows are shared state.
        with self._propagate_lock:
            if version != self.version:
                return  # a newer edit superseded this one
            # A superseded run never updated the Propagator, so its edit may lie above
            # from_index (or the runs may take the lock out of order): re-run from the
            # first row that differs from the stack the Propagator last saw.
            start = min(from_index, _first_change(self._propagated_stack, stack))
            started = time.perf_counter()
            rows = self._propagator.update(stack, start)
            self._propagated_stack = stack
            elapsed = (time.perf_counter() - started) * 1000
            result = totals(stack, rows)
        self.post_message(Propagated(version, list(rows), result, elapsed))

    @on(Propagated)
    def _propagated(self, event: Propagated) -> None:
        if event.version != self.version:
            return
        self.propagated_version = event.version
        self.rows = event.rows
        self.totals = event.totals
        self.last_propagation_ms = event.elapsed_ms
        self._render_table()

    def _render_table(self) -> None:
        from tui.core.builder.catalogue import format_arg
        from tui.core.builder.spec import fmt_shape

        assert self.stack is not None
        table = self.table
        cursor = table.cursor_row
        table.clear()
        # Shares of a sum cut short by an error row would mislead: none until it is fixed.
        total = self.totals.params_total if self.totals and self.totals.error_index is None else 0
        cells: list[list[str]] = []
        errors: dict[int, str] = {}
        for i, layer in enumerate(self.stack.layers):
            row = self.rows[i] if i < len(self.rows) else None
            args = ", ".join(f"{k}={format_arg(v)}" for k, v in layer.args.items())
            if row is None:
                shape, params, share = "…", "", ""
            elif row.error:
                shape, params, share = "", "", ""
                errors[i] = row.error
            elif row.blocked or row.output_shape is None:
                shape, params, share = "-", "", ""
            else:
                shape = fmt_shape(row.output_shape)
                params = f"{row.params_total:,}" if row.params_total else "0"
                share = (
                    f"{100 * row.params_total / total:.1f}%" if total and row.params_total else ""
                )
            cells.append([str(i), layer.type, args, shape, params, share])
        # An error is a sentence; whole, it would widen the shape column past the pane and
        # scroll params and share out of sight. The row gets what fits (the full sentence
        # and its fix are under the table, in #builder-error).
        room = self._shape_room(cells)
        for i, error in errors.items():
            # The layer column names the type already: drop it from the sentence.
            error = error.removeprefix(f"{self.stack.layers[i].type} ")
            cells[i][3] = _error_cell(error, room)
        for i, row_cells in enumerate(cells):
            *text, params, share = row_cells
            table.add_row(
                *text, Text(params, justify="right"), Text(share, justify="right"), key=str(i)
            )
        if self.stack.layers:
            table.move_cursor(row=min(cursor, len(self.stack.layers) - 1))
        self._render_head()
        self._render_totals()

    def _shape_room(self, cells: list[list[str]]) -> int:
        """Columns left for the shape cell once the other columns have their width."""
        table = self.table
        width = table.size.width or self.app.size.width  # 0 while the pane is hidden
        pad = 2 * table.cell_padding
        others = sum(
            max([len(str(column.label)), *(len(row[c]) for row in cells)]) + pad
            for c, column in enumerate(table.columns.values())
            if c != 3
        )
        # Leave room for the shape column's padding and a vertical scrollbar.
        return width - others - pad - 2

    def on_resize(self) -> None:
        # Error cells are cut to the width: re-cut them when the terminal changes size.
        if self.stack is not None and self.ready:
            self._render_table()

    def _render_head(self) -> None:
        from tui.core.builder.spec import fmt_shape

        assert self.stack is not None
        where = f"   spec: {self._short(self.spec_path)}" if self.spec_path else ""
        self.query_one("#builder-head", Static).update(
            f"input {fmt_shape(self.stack.input_shape)} {self.stack.input_dtype}"
            f"   {_plural(len(self.stack.layers), 'layer')}{where}"
        )

    def _short(self, path: Path) -> str:
        # The head is one line: a spec inside the workspace is named relative to it.
        try:
            return str(path.relative_to(self.workspace))
        except ValueError:
            return str(path)

    def _render_totals(self) -> None:
        from tui.core.builder.spec import fmt_shape
        from tui.core.repl.inspect import human_bytes

        t = self.totals
        error = self.query_one("#builder-error", Static)
        if t is None:
            return
        out = fmt_shape(t.output_shape) if t.output_shape is not None else "-"
        # Short enough for one line at 80 columns; trainable only when it differs, and
        # sums above an error row said to be partial.
        notes = []
        if t.params_trainable != t.params_total:
            notes.append(f"trainable {t.params_trainable:,}")
        if t.error_index is not None:
            notes.append(f"rows above {t.error_index}")
        note = f" ({', '.join(notes)})" if notes else ""
        self.query_one("#builder-totals", Static).update(
            f"params {t.params_total:,}{note} · {human_bytes(t.params_bytes)} fp32"
            f" · mult-adds {t.mult_adds:,} · output {out}"
        )
        bad = next((r for r in self.rows if r.error), None)
        if bad is None:
            error.update("")
            error.remove_class("-error")
            error.display = False  # its empty line is a table row better used
            return
        fix = ""
        if bad.fit:
            fix = " · press f to set " + ", ".join(f"{k}={v}" for k, v in bad.fit.items())
        # The engine's sentence already starts with the layer type.
        error.update(f"✗ row {bad.index}: {bad.error}{fix}")
        error.add_class("-error")
        error.display = True

    # -- editing with undo --
    def _cursor(self) -> int:
        return self.table.cursor_row if self.stack and self.stack.layers else -1

    def _edit(self, new: LayerStack, from_index: int, cursor: int | None = None) -> None:
        assert self.stack is not None
        if new == self.stack:
            return  # a form saved as it was: nothing to undo, nothing to re-run
        self._undo.append(self.stack)
        del self._undo[:-MAX_UNDO]
        self._redo.clear()
        self.stack = new
        self._after_change(from_index, cursor)

    def _after_change(self, from_index: int, cursor: int | None) -> None:
        assert self.stack is not None
        # Show the new row list at once (shapes follow from the worker).
        self.rows = self.rows[: max(0, from_index)]
        self._render_table()
        if cursor is not None and self.stack.layers:
            self.table.move_cursor(row=max(0, min(cursor, len(self.stack.layers) - 1)))
        self._propagate(max(0, from_index))

    def _require_ready(self) -> bool:
        if not self.ready or self.stack is None:
            self.notify("torch is still loading: the builder starts once it is ready.")
            return False
        return True

    def action_add(self) -> None:
        if not self._require_ready():
            return
        from tui.core.builder.catalogue import CATALOGUE
        from widgets.common.dialogs import Choice, PickerDialog

        choices = [Choice(name, name, f"{t.category}: {t.doc}") for name, t in CATALOGUE.items()]

        def picked(name: str | None) -> None:
            if name is not None:
                self.add_layer(name)

        self.app.push_screen(PickerDialog("Add a layer after the cursor", choices), picked)

    def add_layer(self, type_name: str, args: dict[str, Any] | None = None) -> None:
        """Insert a layer after the cursor (autos on, or ``args``).

        A layer with required arguments still unset (Linear's out_features) is inserted
        only once its form is saved: a cancelled form adds nothing, rather than leaving
        a row that can only fail.
        """
        from tui.core.builder.spec import LayerSpec
        from widgets.builder.layer_form import LayerFormDialog

        assert self.stack is not None
        at = self._cursor() + 1
        spec = LayerSpec.new(type_name)
        if args is not None:
            spec.args.update(args)
        missing = [
            p.name for p in _catalogue()[type_name].params if p.required and p.name not in spec.args
        ]
        if not missing:
            self._insert(spec, at)
            return

        def saved(values: dict[str, Any] | None) -> None:
            if values is not None and self.stack is not None:
                self._insert(LayerSpec(type_name, values), min(at, len(self.stack.layers)))

        self.app.push_screen(
            LayerFormDialog(type_name, spec.args, f"New row {at}: {type_name}"), saved
        )

    def _insert(self, spec: LayerSpec, at: int) -> None:
        assert self.stack is not None
        new = self.stack.copy()
        new.layers.insert(at, spec)
        self._edit(new, at, cursor=at)

    def action_edit(self) -> None:
        if not self._require_ready() or self._cursor() < 0:
            return
        from widgets.builder.layer_form import LayerFormDialog

        assert self.stack is not None
        index = self._cursor()
        layer = self.stack.layers[index]

        def saved(args: dict[str, Any] | None) -> None:
            if args is None or self.stack is None:
                return
            new = self.stack.copy()
            new.layers[index].args = args
            self._edit(new, index, cursor=index)

        self.app.push_screen(
            LayerFormDialog(layer.type, layer.args, f"Row {index}: {layer.type}"), saved
        )

    def action_fit(self) -> None:
        if not self._require_ready():
            return
        bad = next((r for r in self.rows if r.error), None)
        if bad is None:
            self.notify("Nothing to fit: every row fits its input.")
            return
        if not bad.fit:
            self.notify(f"Row {bad.index} has no one-argument fix: {bad.error}", severity="warning")
            return
        assert self.stack is not None
        new = self.stack.copy()
        new.layers[bad.index].args.update(bad.fit)
        self._edit(new, bad.index, cursor=bad.index)

    def action_delete(self) -> None:
        if not self._require_ready() or self._cursor() < 0:
            return
        assert self.stack is not None
        index = self._cursor()
        new = self.stack.copy()
        del new.layers[index]
        self._edit(new, index, cursor=index)

    def action_duplicate(self) -> None:
        if not self._require_ready() or self._cursor() < 0:
            return
        assert self.stack is not None
        index = self._cursor()
        new = self.stack.copy()
        new.layers.insert(
            index + 1,
            new.layers[index].__class__(new.layers[index].type, dict(new.layers[index].args)),
        )
        self._edit(new, index + 1, cursor=index + 1)

    def action_move(self, delta: int) -> None:
        if not self._require_ready() or self._cursor() < 0:
            return
        assert self.stack is not None
        index = self._cursor()
        target = index + delta
        if not 0 <= target < len(self.stack.layers):
            return
        new = self.stack.copy()
        new.layers[index], new.layers[target] = new.layers[target], new.layers[index]
        self._edit(new, min(index, target), cursor=target)

    def action_undo(self) -> None:
        if not self._undo or self.stack is None:
            self.notify("Nothing to undo.")
            return
        self._redo.append(self.stack)
        self.stack = self._undo.pop()
        self._after_change(0, self._cursor())

    def action_redo(self) -> None:
        if not self._redo or self.stack is None:
            self.notify("Nothing to redo.")
            return
        self._undo.append(self.stack)
        self.stack = self._redo.pop()
        self._after_change(0, self._cursor())

    def action_input_shape(self) -> None:
        if not self._require_ready():
            return
        from tui.core.builder.spec import INPUT_DTYPES, parse_shape
        from widgets.common.dialogs import PromptDialog

        assert self.stack is not None
        current = ", ".join(str(s) for s in self.stack.input_shape)
        if self.stack.input_dtype != "float32":
            current += f" {self.stack.input_dtype}"

        def parse(text: str) -> tuple[tuple[int, ...], str]:
            parts = text.replace("x", ",").split()
            dtype = "float32"
            if parts and parts[-1] in INPUT_DTYPES:
                dtype = parts.pop()
            return parse_shape(" ".join(parts)), dtype

        def validate(text: str) -> str | None:
            try:
                parse(text)
            except ValueError as exc:
                return str(exc)
            return None

        def done(text: str | None) -> None:
            if text is None or self.stack is None:
                return
            shape, dtype = parse(text)
            new = self.stack.copy()
            new.input_shape, new.input_dtype = shape, dtype
            self._edit(new, 0, cursor=self._cursor())

        self.app.push_screen(
            PromptDialog(
                "Input shape (without the batch dimension)",
                current,
                "e.g. 1, 28, 28   or   784   or   32 int64 (token ids for an Embedding)",
                validate,
            ),
            done,
        )

    def action_preset(self) -> None:
        if not self._require_ready():
            return
        from tui.core.builder.spec import PRESETS
        from widgets.common.dialogs import Choice, PickerDialog

        choices = [
            Choice(name, name, f"{len(s.layers)} layers, input {s.input_shape}")
            for name, s in PRESETS.items()
        ]

        def picked(name: str | None) -> None:
            if name is not None:
                self.load_preset(name)

        self.app.push_screen(PickerDialog("Start from a preset (undo returns)", choices), picked)

    def load_preset(self, name: str) -> None:
        from tui.core.builder.spec import PRESETS

        self.set_stack(PRESETS[name].copy())

    def set_stack(self, stack: LayerStack, path: Path | None = None) -> None:
        """Replace the whole stack (undoable)."""
        if self.stack is None:
            self.stack = stack
            self._after_change(0, 0)
        else:
            self._edit(stack, 0, cursor=0)
        self.spec_path = path
        self._render_head()

    # -- hand-offs --
    def action_to_repl(self) -> None:
        if not self._require_ready():
            return
        if any(r.error for r in self.rows):
            self.notify(
                "Fix the rows marked ✗ first (f applies the fitting value).", severity="error"
            )
            return
        assert self.stack is not None
        self.post_message(self.SendToRepl(self.stack.copy()))

    def action_export(self) -> None:
        if not self._require_ready():
            return
        from tui.core.atomic import write_text_atomic
        from tui.core.builder.spec import SpecError, export_code
        from widgets.common.dialogs import CodeDialog

        assert self.stack is not None
        try:
            code = export_code(self.stack)
        except SpecError as exc:
            self.notify(f"Cannot export: {exc}", severity="error")
            return
        path = self.workspace / "model.py"
        try:
            write_text_atomic(path, code)
            note = f"saved to {path}"
        except OSError as exc:
            note = f"not saved: {exc}"
        self.app.push_screen(CodeDialog("Exported PyTorch code", code, note))

    def _spec_file(self, text: str) -> Path:
        """A typed spec path; a relative one is in the workspace, where model.py goes and
        where the offered default points (not wherever dltui was started from)."""
        path = Path(text.strip()).expanduser()
        return path if path.is_absolute() else self.workspace / path

    def _relative_hint(self) -> str:
        return f"a relative path is in the workspace, {self.workspace.resolve()}"

    def action_save(self) -> None:
        if not self._require_ready():
            return
        from tui.core.builder.spec import save_spec_file
        from widgets.common.dialogs import PromptDialog

        default = str(self.spec_path or (self.workspace / "stack.json"))

        def validate(text: str) -> str | None:
            if not text.strip():
                return "give a file name, e.g. stack.json"
            parent = self._spec_file(text).parent
            if not parent.is_dir():
                return f"folder {parent} does not exist"
            return None

        def done(text: str | None) -> None:
            if text is None or self.stack is None:
                return
            path = self._spec_file(text)
            try:
                save_spec_file(self.stack, path)
            except OSError as exc:
                self.notify(f"Could not save {path}: {exc}", severity="error")
                return
            self.spec_path = path
            self._render_head()
            self.notify(f"Saved the stack spec to {path}")

        self.app.push_screen(
            PromptDialog("Save the stack spec as", default, self._relative_hint(), validate), done
        )

    def action_load(self) -> None:
        if not self._require_ready():
            return
        from tui.core.builder.spec import SpecError, load_spec_file
        from widgets.common.dialogs import PromptDialog

        loaded: dict[str, LayerStack] = {}

        def validate(text: str) -> str | None:
            try:
                loaded["stack"] = load_spec_file(self._spec_file(text))
            except SpecError as exc:
                return str(exc)
            except OSError as exc:
                return f"cannot read {text}: {exc.strerror or exc}"
            return None

        def done(text: str | None) -> None:
            if text is not None and "stack" in loaded:
                self.set_stack(loaded["stack"], self._spec_file(text))
                self.notify(f"Loaded {text}")

        default = str(self.spec_path or (self.workspace / "stack.json"))
        self.app.push_screen(
            PromptDialog("Open a stack spec", default, self._relative_hint(), validate), done
        )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _error_cell(error: str, width: int) -> str:
    """``✗ error`` in ``width`` columns: whole, or its first clause, or a pointer below
    (a clause cut to a dozen letters says nothing)."""
    for text in ("✗ " + error, "✗ " + error.split(": ", 1)[0]):
        if len(text) <= width:
            return text
    return "✗ see below"


def _first_change(old: LayerStack | None, new: LayerStack) -> int:
    """The first row of ``new`` whose layer or input differs from ``old``."""
    if old is None or (old.input_shape, old.input_dtype) != (new.input_shape, new.input_dtype):
        return 0
    for index, (a, b) in enumerate(zip(old.layers, new.layers, strict=False)):
        if a != b:
            return index
    return min(len(old.layers), len(new.layers))


def _catalogue() -> dict[str, Any]:
    from tui.core.builder.catalogue import CATALOGUE

    return CATALOGUE
