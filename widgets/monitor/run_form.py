"""The monitor's settings form: one labelled field per run setting.

The fields, their defaults, hints and choices come from the engine
(:data:`tui.core.train.settings.FORM_FIELDS`), and so does turning the text into
settings (:func:`~tui.core.train.settings.settings_from_form`): the form only shows the
fields and hands back what was chosen. A setting with a fixed list (loss, optimizer) is
a compact Select, so no other text can be given; the device is typed (``cuda:1``) and
checked against its list by the engine. In watch mode the form shows the watched run's
own settings, read-only.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Input, Label, Select

from tui.core.train.settings import FORM_FIELDS
from widgets.common.focus import focus_now


class RunForm(Vertical):
    """The settings of the next run; enter in any text field submits (``Input.Submitted``)."""

    DEFAULT_CSS = """
    RunForm Select.train-choice {
        width: 1fr;
        height: 1;
    }
    """

    def compose(self) -> ComposeResult:
        for f in FORM_FIELDS:
            with Horizontal(classes="form-row"):
                yield Label(f.label, classes="form-label")
                if f.choices:
                    yield Select(
                        [(c, c) for c in f.choices],
                        value=f.default,
                        allow_blank=False,
                        compact=True,
                        id=f"train-{f.name}",
                        classes="train-choice",
                        tooltip=f.hint,
                    )
                else:
                    yield Input(
                        f.default, placeholder=f.hint, id=f"train-{f.name}", classes="train-input"
                    )

    def values(self) -> dict[str, str]:
        """Each field's text, by setting name."""
        out = {}
        for f in FORM_FIELDS:
            widget = self.query_one(f"#train-{f.name}")
            value = widget.value if isinstance(widget, (Input, Select)) else ""
            out[f.name] = "" if value is Select.BLANK else str(value)
        return out

    def set_values(self, values: Mapping[str, str], read_only: bool = False) -> None:
        """Show ``values`` (a setting missing from it keeps its field); ``read_only``
        disables every field (a watched run's settings), False enables them again."""
        for f in FORM_FIELDS:
            widget = self.query_one(f"#train-{f.name}")
            text = values.get(f.name)
            if isinstance(widget, Select) and text is not None:
                if text not in f.choices:
                    # A run's config may name a choice this version lacks: show it anyway.
                    widget.set_options([(c, c) for c in (*f.choices, text)])
                widget.value = text
            elif isinstance(widget, Input) and text is not None:
                widget.value = text
            widget.disabled = read_only

    def focus_first(self) -> None:
        focus_now(self.query_one(f"#train-{FORM_FIELDS[0].name}"))
