"""Small modal dialogs shared by the panes: a validated prompt, a filterable list, a code view.

Each returns its answer through ``dismiss`` (None when cancelled with Escape). A prompt's
validator returns an error message, shown inline, and the dialog stays open: bad input
never closes it and never changes anything.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.fuzzy import Matcher
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static, TextArea
from textual.widgets.option_list import Option


class PromptDialog(ModalScreen[str | None]):
    """One line of input; ``validate(text)`` returns an error message or None."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(
        self,
        title: str,
        value: str = "",
        hint: str = "",
        validate: Callable[[str], str | None] | None = None,
    ) -> None:
        super().__init__()
        self._title = title
        self._value = value
        self._hint = hint
        self._validate = validate

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog dialog-small"):
            yield Label(self._title, classes="dialog-title")
            yield Input(self._value, id="prompt-input")
            yield Static(self._hint, classes="dialog-hint")
            yield Static("", id="prompt-error", classes="dialog-error")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        error = self._validate(event.value) if self._validate else None
        if error:
            self.query_one("#prompt-error", Static).update(error)
            return
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


@dataclass(frozen=True)
class Choice:
    """One entry of a :class:`PickerDialog`: ``key`` is what picking it returns."""

    key: str
    label: str
    hint: str = ""


ChoiceFilter = Callable[[str, Sequence[Choice]], list[Choice]]
"""(query, every choice) -> the choices to show, best first."""


def fuzzy_filter(query: str, choices: Sequence[Choice]) -> list[Choice]:
    """Choices that fuzzy-match ``query``, best first; all of them for a blank query."""
    if not query.strip():
        return list(choices)
    matcher = Matcher(query.strip())
    scored = [(matcher.match(f"{c.label} {c.hint}"), i, c) for i, c in enumerate(choices)]
    # Prefer matches in the name itself, then the description.
    scored = [(max(matcher.match(c.label) * 2, s), i, c) for s, i, c in scored if s > 0]
    scored.sort(key=lambda t: (-t[0], t[1]))
    return [c for _, _, c in scored]


class PickerDialog(ModalScreen[str | None]):
    """The filterable-list modal: type to filter the choices, Enter picks the highlighted one.

    ``choose`` decides which choices a query shows and in what order (fuzzy by default);
    Up/Down move the highlight, Escape cancels. Labels are plain text, never markup.
    """

    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="picker.cancel"),
        Binding("down", "move(1)", "Next", show=False),
        Binding("up", "move(-1)", "Previous", show=False),
    ]

    def __init__(
        self,
        title: str,
        choices: Sequence[Choice],
        *,
        placeholder: str = "type to filter (fuzzy)",
        choose: ChoiceFilter = fuzzy_filter,
    ) -> None:
        super().__init__()
        self._title = title
        self._choices = list(choices)
        self._placeholder = placeholder
        self._choose = choose
        self._shown: list[Choice] = list(choices)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Input(placeholder=self._placeholder, id="picker-query")
            yield OptionList(id="picker-options")

    def on_mount(self) -> None:
        self._refilter("")
        self.query_one(Input).focus()

    @on(Input.Changed, "#picker-query")
    def _changed(self, event: Input.Changed) -> None:
        self._refilter(event.value)

    def _refilter(self, query: str) -> None:
        self._shown = self._choose(query, self._choices)
        options = self.query_one(OptionList)
        options.clear_options()
        for c in self._shown:
            text = f"{c.label:<18} {c.hint}" if c.hint else c.label
            # Content, not a str: a str prompt is markup, and "x[0]" would lose its index.
            options.add_option(Option(Content(text)))
        if self._shown:
            options.highlighted = 0

    def action_move(self, delta: int) -> None:
        options = self.query_one(OptionList)
        if self._shown:
            current = options.highlighted or 0
            options.highlighted = max(0, min(len(self._shown) - 1, current + delta))

    @on(Input.Submitted, "#picker-query")
    def _pick(self) -> None:
        index = self.query_one(OptionList).highlighted
        if self._shown and index is not None:
            self.dismiss(self._shown[index].key)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self._shown[event.option_index].key)

    def action_cancel(self) -> None:
        self.dismiss(None)


class CodeDialog(ModalScreen[None]):
    """Read-only code with a note (where it was saved); Escape closes."""

    BINDINGS = [Binding("escape,q", "close", "Close", id="code.close")]

    def __init__(self, title: str, code: str, note: str = "") -> None:
        super().__init__()
        self._title = title
        self._code = code
        self._note = note

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield TextArea(
                self._code,
                language="python",
                read_only=True,
                show_line_numbers=True,
                id="code-view",
            )
            yield Static(self._note + "   Esc closes", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_close(self) -> None:
        self.dismiss(None)
