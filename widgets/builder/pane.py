"""The layer-stack builder pane (F3): compose an nn.Sequential by keyboard.

The stack and its undo/redo live in a :class:`~tui.core.builder.edits.StackEditor`; the
pane turns keys and dialogs into its edit calls and shows the result in a
:class:`~widgets.builder.table.LayerTable`. Shapes, parameters and shares come from
propagation on the meta device (``tui.core.builder.propagate``) in a thread worker,
re-run only from the edited row down. A row whose input does not fit shows the error in
plain words; ``f`` applies the fitting value. The engine imports torch, so it is imported
lazily: the pane shows that torch is loading until the app says the engine is ready.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from widgets.builder.table import LayerTable, error_text, head_text, totals_text
from widgets.common.dialogs import Choice, CodeDialog, PickerDialog, PromptDialog
from widgets.common.focus import focus_now

if TYPE_CHECKING:
    from tui.core.builder.edits import Change, StackEditor
    from tui.core.builder.propagate import Propagator, RowResult, StackTotals
    from tui.core.builder.spec import LayerStack


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
        self.editor: StackEditor | None = None
        """The stack under edit; None until torch is loaded (or a stack is handed in)."""
        self.rows: list[RowResult] = []
        self.totals: StackTotals | None = None
        self.version = 0
        self.propagated_version = 0
        """The stack version whose rows are shown: equal to ``version`` once caught up."""
        self.ready = False
        self.last_propagation_ms = 0.0
        self._propagator: Propagator | None = None
        self._propagate_lock = threading.Lock()
        # The stack whose rows the Propagator holds (touched under _propagate_lock only).
        self._propagated_stack: LayerStack | None = None

    @property
    def stack(self) -> LayerStack | None:
        """The stack shown (the editor's; read it, edit through :attr:`editor`)."""
        return self.editor.stack if self.editor is not None else None

    @property
    def spec_path(self) -> Path | None:
        """The spec file the stack was last loaded from or saved to."""
        return self.editor.spec_path if self.editor is not None else None

    def compose(self) -> ComposeResult:
        yield Static("torch loading… the builder starts once it is ready", id="builder-head")
        yield LayerTable(id="stack")
        yield Static("", id="builder-totals")
        error = Static("", id="builder-error")
        error.display = False
        yield error

    @property
    def table(self) -> LayerTable:
        return self.query_one("#stack", LayerTable)

    def focus_table(self) -> None:
        focus_now(self.table)

    # -- start-up --
    def engine_ready(self) -> None:
        """Called by the app once torch is imported: warm the meta path, show a preset."""
        from tui.core.builder.edits import StackEditor
        from tui.core.builder.presets import default_stack
        from tui.core.builder.propagate import Propagator

        self._propagator = Propagator()
        self.ready = True
        if self.editor is None:
            self.editor = StackEditor(default_stack())
        self._propagate(0)

    # -- propagation --
    def _propagate(self, from_index: int) -> None:
        if not self.ready or self.editor is None:
            return
        self.version += 1
        self._run_propagation(self.editor.stack.copy(), from_index, self.version)

    @work(thread=True, exit_on_error=False, group="builder")
    def _run_propagation(self, stack: LayerStack, from_index: int, version: int) -> None:
        import time

        from tui.core.builder.propagate import first_change, totals

        assert self._propagator is not None
        # One propagation at a time: the Propagator's cached rows are shared state.
        with self._propagate_lock:
            if version != self.version:
                return  # a newer edit superseded this one
            # A superseded run never updated the Propagator, so its edit may lie above
            # from_index (or the runs may take the lock out of order): re-run from the
            # first row that differs from the stack the Propagator last saw.
            start = min(from_index, first_change(self._propagated_stack, stack))
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
        self._redraw()

    # -- rendering --
    def _redraw(self) -> None:
        assert self.editor is not None
        self.table.show_stack(self.editor.stack, self.rows, self.totals)
        self._render_head()
        self._render_totals()

    def on_resize(self) -> None:
        # Error cells are cut to the width: re-cut them when the terminal changes size.
        if self.editor is not None and self.ready:
            self._redraw()

    def _render_head(self) -> None:
        assert self.editor is not None
        text = head_text(self.editor.stack, self.editor.spec_path, self.workspace)
        self.query_one("#builder-head", Static).update(text)

    def _render_totals(self) -> None:
        if self.totals is None:
            return
        self.query_one("#builder-totals", Static).update(totals_text(self.totals))
        error = self.query_one("#builder-error", Static)
        text = error_text(self.rows)
        error.update(text)
        error.set_class(bool(text), "-error")
        error.display = bool(text)  # an empty line is a table row better used

    # -- editing --
    def _cursor(self) -> int:
        return self.table.cursor_row if self.editor and self.editor.stack.layers else -1

    def _show(self, change: Change | None) -> None:
        """Redraw after an edit: the new row list at once, shapes from the worker."""
        if change is None:
            return  # nothing changed: nothing to redraw or re-run
        assert self.editor is not None
        layers = self.editor.stack.layers
        self.rows = self.rows[: change.from_index]
        self._redraw()
        if change.cursor is not None and layers:
            self.table.move_cursor(row=max(0, min(change.cursor, len(layers) - 1)))
        self._propagate(change.from_index)

    def _require_ready(self) -> bool:
        if not self.ready or self.editor is None:
            self.notify("torch is still loading: the builder starts once it is ready.")
            return False
        return True

    def action_add(self) -> None:
        if not self._require_ready():
            return
        from tui.core.builder.catalogue import CATALOGUE

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
        from tui.core.builder.edits import missing_args, new_layer
        from tui.core.builder.spec import LayerSpec
        from widgets.builder.layer_form import LayerFormDialog

        assert self.editor is not None
        editor = self.editor
        at = self._cursor() + 1
        layer = new_layer(type_name, args)
        if not missing_args(layer):
            self._show(editor.insert(at, layer))
            return

        def saved(values: dict[str, Any] | None) -> None:
            if values is not None:
                self._show(editor.insert(at, LayerSpec(type_name, values)))

        self.app.push_screen(
            LayerFormDialog(type_name, layer.args, f"New row {at}: {type_name}"), saved
        )

    def action_edit(self) -> None:
        if not self._require_ready() or self._cursor() < 0:
            return
        from widgets.builder.layer_form import LayerFormDialog

        assert self.editor is not None
        editor = self.editor
        index = self._cursor()
        layer = editor.stack.layers[index]

        def saved(args: dict[str, Any] | None) -> None:
            if args is not None:
                self._show(editor.set_args(index, args))

        self.app.push_screen(
            LayerFormDialog(layer.type, layer.args, f"Row {index}: {layer.type}"), saved
        )

    def action_fit(self) -> None:
        if not self._require_ready():
            return
        assert self.editor is not None
        bad = next((r for r in self.rows if r.error), None)
        if bad is None:
            self.notify("Nothing to fit: every row fits its input.")
            return
        if not bad.fit and not bad.fit_insert:
            self.notify(f"Row {bad.index} has no one-argument fix: {bad.error}", severity="warning")
            return
        self._show(self.editor.apply_fit(bad))

    def action_delete(self) -> None:
        if self._require_ready() and self.editor is not None:
            self._show(self.editor.delete(self._cursor()))

    def action_duplicate(self) -> None:
        if self._require_ready() and self.editor is not None:
            self._show(self.editor.duplicate(self._cursor()))

    def action_move(self, delta: int) -> None:
        if self._require_ready() and self.editor is not None:
            self._show(self.editor.move(self._cursor(), delta))

    def action_undo(self) -> None:
        change = self.editor.undo() if self.editor is not None else None
        if change is None:
            self.notify("Nothing to undo.")
        self._show(change)

    def action_redo(self) -> None:
        change = self.editor.redo() if self.editor is not None else None
        if change is None:
            self.notify("Nothing to redo.")
        self._show(change)

    def action_input_shape(self) -> None:
        if not self._require_ready():
            return
        from tui.core.builder.spec import input_text, parse_input

        assert self.editor is not None
        editor = self.editor

        def validate(text: str) -> str | None:
            try:
                parse_input(text)
            except ValueError as exc:
                return str(exc)
            return None

        def done(text: str | None) -> None:
            if text is not None:
                self._show(editor.set_input(*parse_input(text)))

        self.app.push_screen(
            PromptDialog(
                "Input shape (without the batch dimension)",
                input_text(editor.stack),
                "e.g. 1, 28, 28   or   784   or   32 int64 (token ids for an Embedding)",
                validate,
            ),
            done,
        )

    def action_preset(self) -> None:
        if not self._require_ready():
            return
        from tui.core.builder.presets import PRESETS

        choices = [
            Choice(name, name, f"{len(s.layers)} layers, input {s.input_shape}")
            for name, s in PRESETS.items()
        ]

        def picked(name: str | None) -> None:
            if name is not None:
                self.load_preset(name)

        self.app.push_screen(PickerDialog("Start from a preset (undo returns)", choices), picked)

    def load_preset(self, name: str) -> None:
        """Start from a copy of a preset (undoable)."""
        assert self.editor is not None
        self._show(self.editor.load_preset(name))
        self._render_head()

    def set_stack(self, stack: LayerStack, path: Path | None = None) -> None:
        """Replace the whole stack (undoable); ``path`` is the spec file it came from."""
        if self.editor is None:
            from tui.core.builder.edits import Change, StackEditor

            self.editor = StackEditor(stack, path)
            self._show(Change(0, 0))
        else:
            self._show(self.editor.replace(stack, path))
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
        assert self.editor is not None
        self.post_message(self.SendToRepl(self.editor.stack.copy()))

    def action_export(self) -> None:
        if not self._require_ready():
            return
        from tui.core.atomic import write_text_atomic
        from tui.core.builder.codegen import export_code
        from tui.core.builder.spec import SpecError

        assert self.editor is not None
        try:
            code = export_code(self.editor.stack)
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

        assert self.editor is not None
        editor = self.editor
        default = str(editor.spec_path or (self.workspace / "stack.json"))

        def validate(text: str) -> str | None:
            if not text.strip():
                return "give a file name, e.g. stack.json"
            parent = self._spec_file(text).parent
            if not parent.is_dir():
                return f"folder {parent} does not exist"
            return None

        def done(text: str | None) -> None:
            if text is None:
                return
            path = self._spec_file(text)
            try:
                save_spec_file(editor.stack, path)
            except OSError as exc:
                self.notify(f"Could not save {path}: {exc}", severity="error")
                return
            editor.spec_path = path
            self._render_head()
            self.notify(f"Saved the stack spec to {path}")

        self.app.push_screen(
            PromptDialog("Save the stack spec as", default, self._relative_hint(), validate), done
        )

    def action_load(self) -> None:
        if not self._require_ready():
            return
        from tui.core.builder.spec import SpecError, load_spec_file

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
