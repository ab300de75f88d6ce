"""Everything the process writes while the app runs lands in the REPL output, not the terminal.

Python-level writes are routed per thread (:mod:`tui.core.repl.output`); this module adds
what that cannot see. :class:`OutputCapture` points file descriptors 1 and 2 at a pipe, so
``os.write(1, ...)``, C ``printf``, ``os.system`` and child processes write there too, and
a reader thread moves what arrives into the running submission's buffer, or, between
submissions, into :class:`BackgroundOutput`, which the REPL pane drains on a timer. Writes
to ``sys.stdout`` from threads the user started go to the same place.

The real terminal is kept first: :attr:`OutputCapture.terminal` is a file over a copy of
the original fd 2 (where Textual's driver writes) and :attr:`terminal_size_fd` a copy of
fd 1 (where it reads the size). :meth:`OutputCapture.stop` puts fds 1 and 2 back.
"""

from __future__ import annotations

import atexit
import codecs
import ctypes
import functools
import io
import os
import select
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TextIO

from tui.core.repl.output import BoundedText, RoutedStream

BACKGROUND_LIMIT = 20_000
"""Characters of background output kept between two drains; the rest is counted."""

SYNC_TIMEOUT_S = 1.0
"""How long the end of a submission waits for its fd output to come through the pipe."""

_MARK = b"\x00\x1bdltui-sync:"


class BackgroundOutput:
    """Output nobody was waiting for (a thread's print, a child's line), until drained."""

    def __init__(self, limit: int = BACKGROUND_LIMIT) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._buffer = BoundedText(limit)

    def write(self, text: str) -> int:
        with self._lock:
            return self._buffer.write(text)

    def take(self) -> tuple[str, str | None]:
        """(text, truncation note) written since the last call; ('', None) when nothing."""
        with self._lock:
            buffer, self._buffer = self._buffer, BoundedText(self.limit)
        return buffer.text(), buffer.note()


class OutputCapture:
    """fd 1 and 2 and unrouted ``sys.stdout`` writes, captured while started."""

    def __init__(self) -> None:
        self.background = BackgroundOutput()
        self.terminal: TextIO | None = None
        """The real terminal (a copy of the original fd 2), for the UI's driver."""
        self.terminal_size_fd: int | None = None
        """A copy of the original fd 1, to read the terminal's size from."""
        self._lock = threading.Lock()
        self._claimed: BoundedText | None = None
        self._users = 0
        self._saved: dict[int, int] = {}
        self._pipe_write: int | None = None
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        self._synced = threading.Condition(self._lock)
        self._sync_sent = 0
        self._sync_seen = 0
        self._atexit_registered = False

    @property
    def fds_captured(self) -> bool:
        return self._pipe_write is not None

    # -- start and stop --
    def start(self, fds: bool = True) -> None:
        """Capture until :meth:`stop` (calls nest: the last stop ends it).

        With ``fds``, fds 1 and 2 are redirected too (POSIX only; a failure to set up the
        pipe leaves them alone rather than stopping the app).
        """
        with self._lock:
            self._users += 1
            if self._users > 1:
                return
        RoutedStream.install()
        RoutedStream.stray = self._stray_write
        if fds and os.name == "posix":
            try:
                self._redirect_fds()
            except OSError:
                self._restore_fds()

    def stop(self) -> None:
        with self._lock:
            if self._users == 0:
                return
            self._users -= 1
            if self._users:
                return
        RoutedStream.stray = None
        self._restore_fds()

    def _redirect_fds(self) -> None:
        for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
            with suppress(Exception):  # a closed or odd stream: nothing to flush
                stream.flush()  # type: ignore[union-attr]
        _flush_c_stdio()
        if self.terminal is None:
            # Copied once per process: the driver of every later app writes here.
            err = os.dup(2)
            encoding = getattr(sys.__stderr__, "encoding", None) or "utf-8"
            raw = io.FileIO(err, "w", closefd=True)
            self.terminal = io.TextIOWrapper(raw, encoding=encoding, errors="replace")
            self.terminal_size_fd = os.dup(1)
        read_end, write_end = os.pipe()
        self._saved = {1: os.dup(1), 2: os.dup(2)}
        os.dup2(write_end, 1)
        os.dup2(write_end, 2)
        self._pipe_write = write_end
        RoutedStream.fd_of = {"stdout": 1, "stderr": 2}
        self._stop.clear()
        self._reader = threading.Thread(
            target=self._read, args=(read_end,), name="dltui-fd-capture", daemon=True
        )
        self._reader.start()
        if not self._atexit_registered:
            # Should the app die without stopping us, the shell gets its fds back.
            atexit.register(self._restore_fds)
            self._atexit_registered = True

    def _restore_fds(self) -> None:
        if not self._saved:
            return
        _flush_c_stdio()
        saved, self._saved = self._saved, {}
        RoutedStream.fd_of = {}
        for fd, copy in saved.items():
            try:
                os.dup2(copy, fd)
            finally:
                os.close(copy)
        write_end, self._pipe_write = self._pipe_write, None
        if write_end is not None:
            os.close(write_end)
        self._stop.set()
        reader, self._reader = self._reader, None
        if reader is not None:
            # A child that outlives the app keeps the pipe open: do not wait for EOF.
            reader.join(timeout=2)

    # -- attributing output to submissions --
    @contextmanager
    def submission(self, buffer: BoundedText) -> Iterator[None]:
        """While the body runs, unrouted and fd-level output goes to ``buffer``.

        On the way out, output already written to fds 1/2 is waited for (bounded), so a
        child's lines come before the value the submission shows.
        """
        with self._lock:
            self._claimed = buffer
        try:
            yield
        finally:
            self.sync()
            with self._lock:
                self._claimed = None

    def sync(self, timeout: float = SYNC_TIMEOUT_S) -> bool:
        """Wait until everything written to fds 1/2 so far has been read; False on timeout."""
        write_end = self._pipe_write
        if write_end is None:
            return True
        _flush_c_stdio()
        with self._lock:
            self._sync_sent += 1
            wanted = self._sync_sent
        try:
            os.write(write_end, _MARK + str(wanted).encode() + b"\x00")
        except OSError:
            return False
        with self._synced:
            return self._synced.wait_for(lambda: self._sync_seen >= wanted, timeout)

    def _stray_write(self, text: str) -> None:
        with self._lock:
            sink = self._claimed
        (sink or self.background).write(text)

    # -- the reader thread --
    def _read(self, read_end: int) -> None:
        decoder = _Decoder()
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([read_end], [], [], 0.2)
                if not ready:
                    continue
                chunk = os.read(read_end, 65536)
                if not chunk:
                    break
                for text, mark in decoder.feed(chunk):
                    if text:
                        self._stray_write(text)
                    if mark is not None:
                        with self._synced:
                            self._sync_seen = max(self._sync_seen, mark)
                            self._synced.notify_all()
        except OSError:
            pass
        finally:
            os.close(read_end)


class _Decoder:
    """Bytes from the pipe -> [(text, sync mark that followed it or None)], marks removed."""

    def __init__(self) -> None:
        self._pending = b""
        self._utf8 = codecs.getincrementaldecoder("utf-8")("replace")

    def feed(self, chunk: bytes) -> list[tuple[str, int | None]]:
        data = self._pending + chunk
        out: list[tuple[str, int | None]] = []
        while (start := data.find(_MARK)) >= 0:
            end = data.find(b"\x00", start + len(_MARK))
            if end < 0:
                break  # the rest of the mark is still in the pipe
            number = data[start + len(_MARK) : end]
            out.append((self._utf8.decode(data[:start]), int(number) if number.isdigit() else 0))
            data = data[end + 1 :]
        # Hold back an unfinished mark, or bytes that may begin one.
        start = data.find(_MARK)
        keep = len(data) - start if start >= 0 else _partial_mark(data)
        data, self._pending = data[: len(data) - keep], data[len(data) - keep :]
        out.append((self._utf8.decode(data), None))
        return out


def _partial_mark(data: bytes) -> int:
    """How many bytes at the end of ``data`` could begin a sync mark."""
    for size in range(min(len(_MARK) - 1, len(data)), 0, -1):
        if _MARK.startswith(data[-size:]):
            return size
    return 0


def _flush_c_stdio() -> None:
    # C's stdout is block-buffered on a pipe: printf output would wait for 4 KB or exit.
    with suppress(OSError, AttributeError):
        _libc().fflush(None)


@functools.cache
def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None)


CAPTURE = OutputCapture()
"""The process's one capture: fds 1 and 2 exist once per process."""

__all__ = ["BACKGROUND_LIMIT", "CAPTURE", "BackgroundOutput", "OutputCapture"]
