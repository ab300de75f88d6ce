"""Bounded capture of what REPL code prints.

``print`` in user code must land in the REPL output, never on the raw terminal (Textual
owns it), and printing a 100 MB string must not freeze anything: :class:`BoundedText`
keeps the first characters and counts the rest. :class:`RoutedStream` replaces
``sys.stdout``/``sys.stderr`` once and sends each thread's writes to the buffer that
thread registered, everything else to the stream it replaced.
"""

from __future__ import annotations

import sys
import threading
from typing import TextIO


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

    def __init__(self, fallback: TextIO, name: str) -> None:
        self._fallback = fallback
        self._name = name

    # -- the file protocol, as much of it as print() and warnings use --
    def write(self, text: str) -> int:
        sink = RoutedStream._routes.get(threading.get_ident())
        if sink is not None:
            return sink.write(text)
        return self._fallback.write(text)

    def flush(self) -> None:
        if threading.get_ident() not in RoutedStream._routes:
            self._fallback.flush()

    def isatty(self) -> bool:
        return False

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:
        return getattr(self._fallback, "encoding", "utf-8") or "utf-8"

    def fileno(self) -> int:
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
