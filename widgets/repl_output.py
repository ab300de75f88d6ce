"""The REPL's transcript: inputs with a prompt, printed output, values, errors explained.

Bounded twice: each submission's output is cut by the engine (``tui.core.output``) and
the log keeps only the last ``MAX_LINES`` lines, so a long session never slows redraws.
A plain-text copy of recent entries is kept for tests and for copying.
"""

from __future__ import annotations

from collections import deque

from rich.syntax import Syntax
from rich.text import Text
from textual.widgets import RichLog

from tui.core.session import RunResult

MAX_LINES = 3_000


class ReplOutput(RichLog):
    """What the REPL printed, newest at the bottom."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(max_lines=MAX_LINES, wrap=True, markup=False, highlight=False, **kwargs)  # type: ignore[arg-type]
        self.can_focus = False
        self.plain: deque[str] = deque(maxlen=500)

    def add_input(self, source: str, note: str | None = None) -> None:
        prompted = "\n".join(
            (">>> " if i == 0 else "... ") + line for i, line in enumerate(source.split("\n"))
        )
        self.write(Syntax(prompted, "python", theme="ansi_dark", background_color="default"))
        self.plain.append(prompted)
        if note:
            self.add_note(note)

    def add_note(self, note: str, style: str = "dim italic") -> None:
        self.write(Text(note, style=style))
        self.plain.append(note)

    def add_result(self, result: RunResult) -> None:
        if result.output:
            self.write(Text(result.output.rstrip("\n")))
            self.plain.append(result.output.rstrip("\n"))
        if result.truncated_note:
            self.add_note(result.truncated_note, "yellow")
        if result.value_repr is not None:
            self.write(Text(result.value_repr))
            self.plain.append(result.value_repr)
        if result.error:
            self.write(Text(result.error, style="red"))
            self.plain.append(result.error)
        if result.explanation:
            self.write(Text("→ " + result.explanation, style="bold yellow"))
            self.plain.append("→ " + result.explanation)

    def clear_output(self) -> None:
        self.clear()
        self.plain.clear()

    @property
    def transcript(self) -> str:
        """The recent entries as plain text."""
        return "\n".join(self.plain)
