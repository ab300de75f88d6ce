"""The builder's argument form: one field per constructor argument of a layer.

Fields come from the catalogue (which reads them off the torch signature). Each value is
parsed on save; a bad one gets its message under the field and the stack is left as it
was. An empty field means the torch default. Imported lazily: the catalogue imports torch.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from tui.core.builder.catalogue import CATALOGUE, format_arg, parse_arg


class LayerFormDialog(ModalScreen[dict[str, Any] | None]):
    """Edit the arguments of one layer; Enter on the last field or ctrl+s saves."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="form.cancel"),
        Binding("ctrl+s", "save", "Save", id="form.save"),
    ]

    def __init__(self, type_name: str, args: dict[str, Any], title: str = "") -> None:
        super().__init__()
        self.ltype = CATALOGUE[type_name]
        self.args = dict(args)
        self._title = title or f"{type_name} arguments"

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Static(self.ltype.doc, classes="dialog-hint")
            with VerticalScroll(id="form-fields"):
                if not self.ltype.params:
                    yield Static("This layer takes no arguments.")
                for spec in self.ltype.params:
                    default = "required" if spec.required else f"default {format_arg(spec.default)}"
                    yield Label(
                        Text.assemble((spec.name, "bold"), f"  {spec.describe()}; {default}")
                    )
                    value = format_arg(self.args[spec.name]) if spec.name in self.args else ""
                    # Compact (borderless) fields and error lines shown only when set:
                    # with bordered inputs a Linear's three fields overflow an 80x24 form.
                    yield Input(
                        value,
                        placeholder=default,
                        id=f"arg-{spec.name}",
                        classes="form-input",
                        compact=True,
                    )
                    error = Static("", id=f"err-{spec.name}", classes="dialog-error")
                    error.display = False
                    yield error
            yield Static(
                "Enter: next field / save on the last · ctrl+s save · Esc cancel",
                classes="dialog-hint",
            )

    def on_mount(self) -> None:
        inputs = self.query(".form-input")
        if inputs:
            inputs.first().focus()

    @on(Input.Submitted, ".form-input")
    def _next_or_save(self, event: Input.Submitted) -> None:
        inputs = list(self.query(".form-input"))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self.action_save()

    def parse(self) -> tuple[dict[str, Any], dict[str, str]]:
        """(new args, errors by argument name) from the fields."""
        args: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for spec in self.ltype.params:
            text = self.query_one(f"#arg-{spec.name}", Input).value
            if not text.strip():
                if spec.required:
                    errors[spec.name] = "required: give a value"
                continue
            try:
                args[spec.name] = parse_arg(self.ltype, spec.name, text)
            except ValueError as exc:
                errors[spec.name] = str(exc)
        return args, errors

    def action_save(self) -> None:
        args, errors = self.parse()
        for spec in self.ltype.params:
            error = self.query_one(f"#err-{spec.name}", Static)
            error.update(errors.get(spec.name, ""))
            error.display = spec.name in errors
        if errors:
            first = next(iter(errors))
            self.query_one(f"#arg-{first}", Input).focus()
            return
        self.dismiss(args)

    def action_cancel(self) -> None:
        self.dismiss(None)
