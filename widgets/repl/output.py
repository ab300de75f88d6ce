"""The REPL's transcript: inputs with a prompt, printed output, values, errors explained.

Bounded twice: each submission's output is cut by the engine (``tui.core.repl.output``) and
the log keeps only the last ``MAX_LINES`` lines, so a long session never slows redraws.
A plain-text copy of recent entries is kept for tests and for copying.
"""

from __future__ import annotations

from collections import deque

from rich.console import RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.widgets import RichLog

from tui.core.repl.output import visible_text
from tui.core.repl.session import RunResult

MAX_LINES = 3_000
INPUT_ECHO_LIMIT = 2_000
"""Characters of a submitted input echoed in the transcript (the code runs in full)."""


class ReplOutput(RichLog):
    """What the REPL printed, newest at the bottom."""

    def __init__(self, **kwargs: object) -> None:
        # min_width=1: RichLog's default (78) wraps at 78 columns however narrow the pane is,
        # which hid the end of long lines behind a horizontal scrollbar.
        super().__init__(  # type: ignore[arg-type]
            max_lines=MAX_LINES, wrap=True, markup=False, highlight=False, min_width=1, **kwargs
        )
        self.can_focus = False
        self.plain: deque[str] = deque(maxlen=500)
        # RichLog wraps each entry once, at the width it has when written: after a terminal
        # resize every line kept the old width. The recent entries are kept so that a width
        # change re-wraps them.
        self._entries: deque[RenderableType] = deque(maxlen=500)
        self._wrap_width = 0

    def _add(self, renderable: RenderableType, plain: str) -> None:
        self._entries.append(renderable)
        self.plain.append(plain)
        self.write(renderable)
        if self._size_known:
            self._wrap_width = self.scrollable_content_region.width

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if not self._size_known:
            self._wrap_width = width  # RichLog renders what was deferred at this width next
            return
        if width and width != self._wrap_width:
            self._wrap_width = width
            self.clear()
            for renderable in self._entries:
                self.write(renderable)

    def add_input(self, source: str, note: str | None = None) -> None:
        # Pasted text can hold escape sequences too: shown, never sent to the terminal.
        source = visible_text(source)
        cut = len(source) > INPUT_ECHO_LIMIT
        if cut:
            # A 200 KB paste is laid out and wrapped on the UI thread: echo its head only.
            note = " ".join(
                n for n in (f"(input shown cut: {len(source):,} characters in all)", note) if n
            )
            source = source[:INPUT_ECHO_LIMIT] + " …"
        prompted = "\n".join(
            (">>> " if i == 0 else "... ") + line for i, line in enumerate(source.split("\n"))
        )
        # No background of its own: "default" painted the terminal's default colour, a
        # black box behind each input on the pane's surface. word_wrap: without it Syntax
        # crops each line at the pane's edge, and the end of a long input was never shown.
        self._add(Syntax(prompted, "python", theme="ansi_dark", word_wrap=True), prompted)
        if note:
            self.add_note(note)

    def add_note(self, note: str, style: str = "dim italic") -> None:
        self._add(Text(note, style=style), note)

    def add_result(self, result: RunResult) -> None:
        if result.output:
            self._add(Text(result.output.rstrip("\n")), result.output.rstrip("\n"))
        if result.truncated_note:
            self.add_note(result.truncated_note, "yellow")
        if result.value_repr is not None:
            self._add(Text(result.value_repr), result.value_repr)
        if result.error:
            self._add(Text(result.error, style="red"), result.error)
        if result.explanation:
            self._add(
                Text("→ " + result.explanation, style="bold yellow"), "→ " + result.explanation
            )

    def add_background(self, text: str, note: str | None = None) -> None:
        """Output printed outside any submission (a thread, a child process), made safe."""
        text = text.rstrip("\n")
        if text:
            self._add(Text(text), text)
        if note:
            self.add_note(note.replace("output truncated", "background output truncated"), "yellow")

    def clear_output(self) -> None:
        self.clear()
        self.plain.clear()
        self._entries.clear()

    @property
    def transcript(self) -> str:
        """The recent entries as plain text."""
        return "\n".join(self.plain)
