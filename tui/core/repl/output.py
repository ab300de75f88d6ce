"""Bounded capture of what REPL code prints, with terminal control sequences made visible.

``print`` in user code must land in the REPL output, never on the raw terminal (Textual
owns it), and printing a 100 MB string must not freeze anything: :class:`BoundedText`
keeps the first characters and counts the rest. :class:`RoutedStream` replaces
``sys.stdout``/``sys.stderr`` once and sends each thread's writes to the buffer that
thread registered; a thread with no buffer of its own (one the user started) writes to
the stray sink while one is set (``tui.core.repl.capture`` sets it while the app runs),
else to the stream it replaced. :func:`visible_text` turns ``\x1b[2J`` and its kin into
characters that only look like them, so nothing user code emits can drive the terminal.
"""

from __future__ import annotations

import re
import sys
import threading
from collections.abc import Callable
from typing import TextIO

# C0 controls but tab and newline, DEL, and the C1 range (\x9b is a one-byte CSI).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the Control Pictures block: \x1b -> ␛, \x07 -> ␇
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"\\x{code:02x}"


def visible_text(text: str) -> str:
    """``text`` safe to show: control characters become look-alikes, ``\r`` overwrites.

    A carriage return inside a line keeps what came after the last one, as a terminal
    would show a progress bar; ``\r\n`` is a newline. Escape (``\x1b``) becomes ``␛``,
    so ``print('\x1b[2J')`` shows ``␛[2J`` instead of clearing the screen.
    """
    if "\r" in text:
        lines = text.replace("\r\n", "\n").split("\n")
        for i, line in enumerate(lines):
            if "\r" in line:
                parts = [part for part in line.split("\r") if part]
                lines[i] = parts[-1] if parts else ""
        text = "\n".join(lines)
    return _CONTROLS.sub(_picture, text)


class BoundedText:
    """A text sink that keeps the first ``limit`` characters and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._parts: list[str] = []
        self._kept = 0
        self.total = 0
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.total += len(text)
            room = self.limit - self._kept
            if room > 0:
                piece = text[:room]
                self._parts.append(piece)
                self._kept += len(piece)
        return len(text)

    def text(self) -> str:
        with self._lock:
            return "".join(self._parts)

    @property
    def truncated(self) -> bool:
        return self.total > self._kept

    def note(self) -> str | None:
        """A line saying how much was left out, or None."""
        if not self.truncated:
            return None
        return (
            f"… output truncated: {self.total:,} characters printed, "
            f"showing the first {self._kept:,}"
        )


class RoutedStream:
    """A ``sys.stdout``/``sys.stderr`` stand-in that routes writes per thread."""

    _routes: dict[int, BoundedText] = {}
    _lock = threading.Lock()
    stray: Callable[[str], object] | None = None
    """Where writes of threads without a route go, when set (else to the fallback)."""
    fd_of: dict[str, int] = {}
    """``fileno()`` answers, by stream name, while fds 1 and 2 are captured."""

    def __init__(self, fallback: TextIO, name: str) -> None:
        self._fallback = fallback
        self._name = name

    # -- the file protocol, as much of it as print() and warnings use --
    def write(self, text: str) -> int:
        if not isinstance(text, str):
            # What a real text stream says: bytes here would break the buffer's join later.
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        sink = RoutedStream._routes.get(threading.get_ident())
        if sink is not None:
            return sink.write(text)
        stray = RoutedStream.stray
        if stray is not None:
            stray(text)
            return len(text)
        if self._fallback is None:  # the user set sys.stdout = None before we wrapped it
            return len(text)
        return self._fallback.write(text)

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        if threading.get_ident() in RoutedStream._routes or RoutedStream.stray is not None:
            return
        flush = getattr(self._fallback, "flush", None)
        if flush is not None:
            flush()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return getattr(self._fallback, "encoding", "utf-8") or "utf-8"

    def fileno(self) -> int:
        # While fds 1 and 2 are captured, a child process given sys.stdout writes there.
        fd = RoutedStream.fd_of.get(self._name)
        if fd is not None:
            return fd
        return self._fallback.fileno()

    # -- installation --
    @classmethod
    def install(cls) -> None:
        """Wrap the current sys.stdout/stderr (again, if something replaced ours)."""
        with cls._lock:
            if not isinstance(sys.stdout, RoutedStream):
                sys.stdout = cls(sys.stdout, "stdout")  # type: ignore[assignment]
            if not isinstance(sys.stderr, RoutedStream):
                sys.stderr = cls(sys.stderr, "stderr")  # type: ignore[assignment]

    @classmethod
    def route_current_thread(cls, sink: BoundedText) -> None:
        cls._routes[threading.get_ident()] = sink

    @classmethod
    def unroute_current_thread(cls) -> None:
        cls._routes.pop(threading.get_ident(), None)
