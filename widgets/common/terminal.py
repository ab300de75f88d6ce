"""Textual's Linux driver, pointed at the real terminal while fds 1 and 2 are captured.

While the app runs, ``tui.core.repl.capture`` points fds 1 and 2 at a pipe, so that
whatever user code writes there (``os.write``, C ``printf``, child processes) lands in the
REPL output instead of breaking the frame. Textual's driver writes to ``sys.__stderr__``
(fd 2) and reads the size from ``sys.__stdout__`` (fd 1): this driver uses the copies of
the original fds that the capture kept, so the UI still reaches the terminal.
"""

from __future__ import annotations

import os

from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver

from tui.core.repl.capture import CAPTURE


class TerminalDriver(LinuxDriver):
    """LinuxDriver writing to, and sized from, the terminal the capture kept."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        if CAPTURE.terminal is not None:
            # The app's Load handler started the capture before Textual built the driver.
            self._file = CAPTURE.terminal

    def _get_terminal_size(self) -> tuple[int, int]:
        fd = CAPTURE.terminal_size_fd
        if fd is not None:
            try:
                size = os.get_terminal_size(fd)
            except OSError:
                pass  # not a terminal (output piped): Textual's own fallbacks below
            else:
                return size.columns or 80, size.lines or 25
        return super()._get_terminal_size()


def terminal_driver(base: type[Driver]) -> type[Driver]:
    """The driver to use instead of ``base``: ours where ``base`` is the Linux driver."""
    return TerminalDriver if base is LinuxDriver else base


__all__ = ["TerminalDriver", "terminal_driver"]
