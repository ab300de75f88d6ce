"""The stack being edited in the builder: every edit operation, with undo and redo.

A :class:`StackEditor` owns one :class:`LayerStack` and its history. Each edit builds a
new stack from a copy and keeps the old one for undo, so a stack once handed out (to the
propagation worker, to the monitor, to the undo list) never changes under its holder.

An edit returns a :class:`Change` saying where shapes must be re-propagated from and
where the cursor goes, or None when it changed nothing (a form saved as it was, a move
past the end, nothing to undo): nothing to redraw, nothing new to undo. The builder
widget renders :attr:`StackEditor.stack` and calls these with its cursor row; no Textual
here, so every operation is tested without an app.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from tui.core.builder.catalogue import CATALOGUE
from tui.core.builder.codegen import stack_from_module
from tui.core.builder.presets import PRESETS
from tui.core.builder.propagate import RowResult
from tui.core.builder.spec import LayerSpec, LayerStack

MAX_UNDO = 200
"""Edits kept for undo; older ones are forgotten."""


@dataclass(frozen=True)
class Change:
    """What an edit did, for the view that shows the stack."""

    from_index: int
    """The first row whose shapes may differ: rows above it keep theirs."""
    cursor: int | None
    """The row the cursor goes to; None leaves it where it is."""


def new_layer(type_name: str, args: dict[str, Any] | None = None) -> LayerSpec:
    """A catalogue layer with its auto-capable arguments on ``"auto"``, then ``args``."""
    layer = LayerSpec.new(type_name)
    if args is not None:
        layer.args.update(args)
    return layer


def missing_args(layer: LayerSpec) -> list[str]:
    """Required arguments of ``layer`` still unset (Linear's out_features), in order."""
    return [p.name for p in CATALOGUE[layer.type].params if p.required and p.name not in layer.args]


class StackEditor:
    """A layer stack under edit, with undo/redo and the spec file it came from.

    ::

        editor = StackEditor(PRESETS["Quickstart MLP"].copy())
        editor.delete(2)  # Change(from_index=2, cursor=2)
        editor.undo()  # the ReLU is back
    """

    def __init__(
        self, stack: LayerStack, spec_path: Path | None = None, max_undo: int = MAX_UNDO
    ) -> None:
        self._stack = stack
        self.spec_path = spec_path
        """The spec file the stack was last loaded from or saved to, if any."""
        self.max_undo = max_undo
        self._undo: list[LayerStack] = []
        self._redo: list[LayerStack] = []

    @property
    def stack(self) -> LayerStack:
        """The current stack. Read it, never change it: edits go through the methods."""
        return self._stack

    @property
    def undo_depth(self) -> int:
        """How many edits :meth:`undo` can take back."""
        return len(self._undo)

    @property
    def redo_depth(self) -> int:
        """How many undone edits :meth:`redo` can make again."""
        return len(self._redo)

    # -- the history --
    def _commit(self, new: LayerStack, from_index: int, cursor: int | None) -> Change | None:
        if new == self._stack:
            return None  # nothing to undo, nothing to re-run
        self._undo.append(self._stack)
        del self._undo[: -self.max_undo]
        self._redo.clear()
        self._stack = new
        return Change(max(0, from_index), cursor)

    def undo(self) -> Change | None:
        """Go back one edit; None when there is none. The cursor stays where it is."""
        if not self._undo:
            return None
        self._redo.append(self._stack)
        self._stack = self._undo.pop()
        return Change(0, None)

    def redo(self) -> Change | None:
        """Make the last undone edit again; None when there is none."""
        if not self._redo:
            return None
        self._undo.append(self._stack)
        self._stack = self._redo.pop()
        return Change(0, None)

    # -- rows --
    def _has(self, index: int) -> bool:
        return 0 <= index < len(self._stack.layers)

    def insert(self, at: int, layer: LayerSpec) -> Change | None:
        """Put ``layer`` at row ``at`` (clamped to the stack), cursor on it."""
        at = max(0, min(at, len(self._stack.layers)))
        new = self._stack.copy()
        new.layers.insert(at, LayerSpec(layer.type, dict(layer.args)))
        return self._commit(new, at, at)

    def add_after(
        self, cursor: int, type_name: str, args: dict[str, Any] | None = None
    ) -> Change | None:
        """Insert a new ``type_name`` layer after row ``cursor`` (-1: first row)."""
        return self.insert(cursor + 1, new_layer(type_name, args))

    def delete(self, index: int) -> Change | None:
        """Remove row ``index``; the cursor stays on the row that takes its place."""
        if not self._has(index):
            return None
        new = self._stack.copy()
        del new.layers[index]
        return self._commit(new, index, index)

    def duplicate(self, index: int) -> Change | None:
        """Copy row ``index`` below itself, cursor on the copy."""
        if not self._has(index):
            return None
        new = self._stack.copy()
        layer = new.layers[index]
        new.layers.insert(index + 1, LayerSpec(layer.type, dict(layer.args)))
        return self._commit(new, index + 1, index + 1)

    def move(self, index: int, delta: int) -> Change | None:
        """Swap row ``index`` with the row ``delta`` away; None past either end."""
        target = index + delta
        if not self._has(index) or not self._has(target):
            return None
        new = self._stack.copy()
        new.layers[index], new.layers[target] = new.layers[target], new.layers[index]
        return self._commit(new, min(index, target), target)

    def set_args(self, index: int, args: dict[str, Any]) -> Change | None:
        """Replace row ``index``'s arguments (a saved form); None when they are the same."""
        if not self._has(index):
            return None
        new = self._stack.copy()
        new.layers[index].args = dict(args)
        return self._commit(new, index, index)

    def apply_fit(self, row: RowResult) -> Change | None:
        """Make the edit propagation found would make ``row`` fit its input, as one edit
        (one undo): set ``row.fit``'s values, and put a ``row.fit_insert`` layer (the
        missing Flatten) before the row. The cursor stays on the fitted layer."""
        if not (row.fit or row.fit_insert) or not self._has(row.index):
            return None
        new = self._stack.copy()
        new.layers[row.index].args.update(row.fit or {})
        at = row.index
        if row.fit_insert is not None:
            new.layers.insert(at, new_layer(row.fit_insert))
            return self._commit(new, at, at + 1)
        return self._commit(new, at, at)

    # -- the input --
    def set_input(self, shape: tuple[int, ...], dtype: str = "float32") -> Change | None:
        """A new input shape (batch left out) and dtype: every row re-propagates."""
        new = self._stack.copy()
        new.input_shape, new.input_dtype = tuple(shape), dtype
        return self._commit(new, 0, None)

    # -- the whole stack --
    def replace(self, stack: LayerStack, spec_path: Path | None = None) -> Change | None:
        """Edit ``stack`` instead (a spec file read, a preset); undo returns.

        ``spec_path`` is where it came from (None: no file), recorded even when the
        stack is the same as the current one.
        """
        self.spec_path = spec_path
        return self._commit(stack, 0, 0)

    def load_preset(self, name: str) -> Change | None:
        """Start from a copy of ``PRESETS[name]`` (undoable)."""
        return self.replace(PRESETS[name].copy())

    def replace_from_module(
        self, module: nn.Module, input_shape: tuple[int, ...], input_dtype: str | None = None
    ) -> Change | None:
        """Edit the stack read from an ``nn.Sequential`` (a REPL variable); undoable.

        Raises:
            ValueError: ``module`` is not an ``nn.Sequential`` of catalogue layers.
        """
        return self.replace(stack_from_module(module, input_shape, input_dtype))
