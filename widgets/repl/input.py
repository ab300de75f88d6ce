"""The REPL's input: a multi-line Python editor that runs code when it is complete.

Enter runs the text when Python's own REPL would (``codeop``), else continues the block
with the right indentation; a blank line ends a block; ctrl+j always inserts a newline.
Up/Down on the first/last line walk the history, ctrl+r searches it, Tab completes names
and attributes from the live namespace. The widget only edits text: it posts
:class:`ReplInput.Submitted` and the pane runs the code; Tab posts
:class:`ReplInput.CompletionRequested` and the pane answers with :meth:`offer_completion`
from a worker, since completing calls ``dir()`` and ``getattr`` on user objects.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from textual import events
from textual.binding import Binding
from textual.message import Message
from textual.widgets import TextArea
from textual.widgets.text_area import Edit, EditResult

from tui.core.repl.completeness import NESTING_LIMIT, is_complete, nesting_depth
from tui.core.repl.completion import common_prefix
from tui.core.repl.history import History

INDENT = "    "
HIGHLIGHT_LIMIT = 5_000
"""Characters above which the input is shown without syntax colours."""
COMPLETION_CONTEXT = 1_000
"""Characters before the cursor sent for completion: the name there is never longer."""


class ReplInput(TextArea):
    """Python input with REPL semantics for Enter, history and completion."""

    # Enter, Up, Down and Tab are handled in _on_key, in this widget's own queue: a
    # priority binding would run at the app level before the characters typed just
    # before it have reached the editor (keys arriving in a burst, over SSH or pasted,
    # would submit half a line). The bindings below document them for F1 and the footer.
    BINDINGS = [
        Binding(
            "enter",
            "submit",
            "Run",
            id="repl.run",
            tooltip="Run the code when it is complete, else continue the block",
        ),
        Binding(
            "ctrl+j", "newline", "Newline", id="repl.newline", tooltip="Always insert a newline"
        ),
        Binding(
            "up",
            "history_previous",
            "History back",
            id="repl.history_prev",
            show=False,
            tooltip="On the first line: the previous entry",
        ),
        Binding(
            "down",
            "history_next",
            "History forward",
            id="repl.history_next",
            show=False,
            tooltip="On the last line: the next entry",
        ),
        Binding(
            "tab",
            "complete",
            "Complete",
            id="repl.complete",
            tooltip="Complete a name or attribute; Tab again cycles",
        ),
        Binding(
            "ctrl+r",
            "search_history",
            "Search history",
            id="repl.search",
            show=False,
            tooltip="Search the history of every launch",
        ),
        Binding(
            "escape",
            "leave",
            "Inspector",
            id="repl.inspector",
            show=False,
            tooltip="Focus the inspector table",
        ),
    ]

    _KEY_ACTIONS = {
        "enter": "submit",
        "ctrl+j": "newline",
        "shift+enter": "newline",
        "up": "history_previous",
        "down": "history_next",
        "tab": "complete",
    }

    @dataclass
    class Submitted(Message):
        """The user ran ``source``."""

        source: str

    class CompletionHint(Message):
        """Candidates to show under the input ('' hides the hint)."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class LeaveRequested(Message):
        """Escape: the user wants to move focus to the inspector."""

    @dataclass
    class CompletionRequested(Message):
        """Tab: complete ``text_before_cursor``; answer with :meth:`offer_completion`."""

        request: int
        text_before_cursor: str

    def __init__(self, history: History, **kwargs: Any) -> None:
        super().__init__(
            # Highlighting is switched on after the first frame: loading the tree-sitter
            # grammar costs ~0.25 s that the first frame should not wait for.
            language=None,
            # The empty box must say what it is for: a new user's first question.
            placeholder="type Python here, e.g. x = torch.randn(3, 4), then Enter",
            soft_wrap=True,
            show_line_numbers=False,
            tab_behavior="indent",
            **kwargs,
        )
        # A blinking cursor repaints the input line twice a second: ~360 bytes/s to the
        # terminal on an idle screen, a steady cost over SSH for nothing.
        self.cursor_blink = False
        self.repl_history = history
        # State of a Tab cycle: (token start column, candidates, index shown).
        self._cycle: tuple[int, list[str], int] | None = None
        # The completion asked for and not answered yet: (request, row, col, text before).
        self._asked: tuple[int, int, int, str] | None = None
        self._requests = 0

    def on_mount(self) -> None:
        self.call_after_refresh(self._enable_highlighting)

    def _enable_highlighting(self) -> None:
        if not _too_big_to_highlight(self.text):
            self.language = "python"

    # Highlighting is parsed and queried on the UI thread: a pasted 10,000-character
    # attribute chain took 23 s to show with it, 1 s without. Big or deeply nested text
    # is shown plain; clearing the input (or loading small text) turns colour back on.
    def load_text(self, text: str) -> None:
        if _too_big_to_highlight(text):
            self.language = None
            super().load_text(text)
            return
        super().load_text(text)
        if self.language is None and self._highlight_wanted:
            self.language = "python"

    def edit(self, edit: Edit) -> EditResult:
        # Typing inserts one character: only a paste can be big.
        if self.language is not None and len(edit.text) > 100 and _too_big_to_highlight(edit.text):
            self.language = None
        return super().edit(edit)

    @property
    def _highlight_wanted(self) -> bool:
        return self.is_mounted

    # -- Enter and newlines --
    def action_submit(self) -> None:
        self._end_cycle()
        source = self.text
        row, _ = self.cursor_location
        on_last_line = row == self.document.line_count - 1
        if on_last_line and is_complete(source):
            # Drop the blank line that ended a block, auto-indent included: it is not part
            # of the code the transcript and the history keep.
            self.post_message(self.Submitted(_strip_trailing_blank_lines(source)))
            return
        if not source.strip():
            return
        self.action_newline()

    def action_newline(self) -> None:
        self._end_cycle()
        row, col = self.cursor_location
        line = self.document.get_line(row)[:col]
        indent = line[: len(line) - len(line.lstrip())]
        if line.rstrip().endswith(":"):
            indent += INDENT
        self.insert("\n" + indent)

    # -- history --
    def action_history_previous(self) -> None:
        self._end_cycle()
        row, _ = self.cursor_location
        if row > 0:
            self.action_cursor_up()
            return
        entry = self.repl_history.previous(self.text)
        if entry is not None:
            self._replace_all(entry, cursor_at_end=False)

    def action_history_next(self) -> None:
        self._end_cycle()
        row, _ = self.cursor_location
        if row < self.document.line_count - 1:
            self.action_cursor_down()
            return
        entry = self.repl_history.next()
        if entry is not None:
            self._replace_all(entry, cursor_at_end=True)

    def action_search_history(self) -> None:
        from widgets.repl.history_search import HistorySearchScreen

        def chosen(entry: str | None) -> None:
            if entry is not None:
                self._replace_all(entry, cursor_at_end=True)
            self.focus()

        self.app.push_screen(HistorySearchScreen(self.repl_history), chosen)

    def _replace_all(self, text: str, cursor_at_end: bool) -> None:
        self.text = text
        if cursor_at_end:
            last = self.document.line_count - 1
            self.move_cursor((last, len(self.document.get_line(last))))
        else:
            self.move_cursor((0, len(self.document.get_line(0))))

    def set_code(self, text: str) -> None:
        """Replace the input with ``text``, cursor at the end (for 'ready lines')."""
        self.repl_history.reset_cursor()
        self._replace_all(text, cursor_at_end=True)

    # -- completion --
    def action_complete(self) -> None:
        row, col = self.cursor_location
        before = self.document.get_line(row)[:col]
        if self._cycle is not None:
            start, candidates, index = self._cycle
            index = (index + 1) % len(candidates)
            self._replace_token(row, start, col, candidates[index])
            self._cycle = (start, candidates, index)
            self._hint(candidates, index)
            return
        if not before.strip() or before[-1:].isspace():
            self.insert(INDENT)
            return
        self._requests += 1
        self._asked = (self._requests, row, col, before)
        self.post_message(self.CompletionRequested(self._requests, before[-COMPLETION_CONTEXT:]))

    @property
    def completion_pending(self) -> bool:
        """A Tab is waiting for its candidates."""
        return self._asked is not None

    def offer_completion(
        self, request: int, token: str, candidates: list[str], note: str | None = None
    ) -> None:
        """The answer to :class:`CompletionRequested` number ``request``.

        Dropped when the user has typed or moved since the Tab: it completes old text.
        """
        if self._asked is None or self._asked[0] != request:
            return
        _, row, col, before = self._asked
        self._asked = None
        if self.cursor_location != (row, col) or self.document.get_line(row)[:col] != before:
            return
        if not candidates:
            text = note or (f"no completion for {token!r}" if token else "")
            self.post_message(self.CompletionHint(text))
            return
        start = col - len(token)
        if len(candidates) == 1:
            self._replace_token(row, start, col, candidates[0])
            self.post_message(self.CompletionHint(""))
            return
        prefix = common_prefix(candidates)
        if len(prefix) > len(token):
            self._replace_token(row, start, col, prefix)
            # The hint now lists the candidates: Tab again cycles through them at once
            # (without this the next Tab only found the same prefix and did nothing).
            self._cycle = (start, candidates, -1)
            self.post_message(self.CompletionHint(self._hint_text(candidates, None)))
            return
        # Nothing more in common: Tab again cycles through the candidates.
        self._cycle = (start, candidates, -1)
        self.post_message(self.CompletionHint(self._hint_text(candidates, None)))

    def _replace_token(self, row: int, start: int, end: int, text: str) -> None:
        # Move the cursor to the end of the inserted name (the default keeps its offset).
        self.replace(text, (row, start), (row, end), maintain_selection_offset=False)

    def _hint(self, candidates: list[str], index: int | None) -> None:
        self.post_message(self.CompletionHint(self._hint_text(candidates, index)))

    @staticmethod
    def _hint_text(candidates: list[str], index: int | None) -> str:
        names = [c.rsplit(".", 1)[-1] for c in candidates]
        shown = []
        for i, name in enumerate(names[:40]):
            shown.append(f"[{name}]" if i == index else name)
        more = f"  (+{len(names) - 40} more)" if len(names) > 40 else ""
        return "  ".join(shown) + more

    async def _on_key(self, event: events.Key) -> None:
        if event.key != "tab":
            # Any other key ends a completion cycle and hides the hint.
            self._end_cycle()
        action = self._KEY_ACTIONS.get(event.key)
        if action is None:
            await super()._on_key(event)
            return
        event.stop()
        event.prevent_default()
        getattr(self, f"action_{action}")()

    def _end_cycle(self) -> None:
        if self._cycle is not None:
            self._cycle = None
            self.post_message(self.CompletionHint(""))

    def action_leave(self) -> None:
        self.post_message(self.LeaveRequested())


def _too_big_to_highlight(text: str) -> bool:
    return len(text) > HIGHLIGHT_LIMIT or nesting_depth(text) > NESTING_LIMIT


def _strip_trailing_blank_lines(source: str) -> str:
    lines = source.split("\n")
    while len(lines) > 1 and not lines[-1].strip():
        lines.pop()
    return "\n".join(lines)
