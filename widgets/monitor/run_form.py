"""The monitor's settings form: one labelled input per run setting.

The fields, their defaults and hints come from the engine
(:data:`tui.core.train.settings.FORM_FIELDS`), and so does turning the text into
settings (:func:`~tui.core.train.settings.settings_from_form`): the form only shows the
inputs and hands back what was typed.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label

from tui.core.train.settings import FORM_FIELDS


class RunForm(Vertical):
    """The settings of the next run; enter in any field submits (``Input.Submitted``)."""

    def compose(self) -> ComposeResult:
        for f in FORM_FIELDS:
            with Horizontal(classes="form-row"):
                yield Label(f.label, classes="form-label")
                yield Input(
                    f.default, placeholder=f.hint, id=f"train-{f.name}", classes="train-input"
                )

    def values(self) -> dict[str, str]:
        """Each field's text, by setting name."""
        return {f.name: self.query_one(f"#train-{f.name}", Input).value for f in FORM_FIELDS}

    def focus_first(self) -> None:
        self.query_one(f"#train-{FORM_FIELDS[0].name}", Input).focus()
