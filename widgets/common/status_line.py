"""The status line under every pane: torch state, default device, memory, busy spinner.

It shows ``torch loading…`` until the engine is ready, then the torch version and the
default device, CUDA memory allocated / reserved when there is CUDA, a spinner with the
elapsed time while REPL code runs, and a slot other panes use (training progress).
"""

from __future__ import annotations

import time

from textual.reactive import reactive
from textual.widgets import Static

from tui.core.text import human_bytes

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class StatusLine(Static):
    """One line of state, refreshed by the app and by a timer while busy."""

    torch_state: reactive[str] = reactive("torch loading…")
    """'torch loading…', or the version and device once loaded."""
    cuda_text: reactive[str] = reactive("")
    """CUDA memory allocated / reserved, or '' without CUDA."""
    extra: reactive[str] = reactive("")
    """A slot for other panes: a compact training progress indicator."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self._busy_since: float | None = None
        self._busy_label = ""
        self._frame = 0
        self._timer = None

    def on_mount(self) -> None:
        self._timer = self.set_interval(0.1, self._tick, pause=False)

    def set_busy(self, label: str | None) -> None:
        """Show a spinner with ``label`` (None hides it)."""
        if label is None:
            self._busy_since = None
        else:
            if self._busy_since is None:
                self._busy_since = time.monotonic()
            self._busy_label = label
        self._render_line()

    @property
    def busy(self) -> bool:
        return self._busy_since is not None

    def set_cuda(self, memory: dict[str, int] | None) -> None:
        if not memory:
            self.cuda_text = ""
        else:
            self.cuda_text = (
                f"CUDA {human_bytes(memory['allocated'])} alloc / "
                f"{human_bytes(memory['reserved'])} reserved"
            )

    def _tick(self) -> None:
        # Only animate while something is going on; idle, the line stays still.
        if self._busy_since is not None or self.torch_state.startswith("torch loading"):
            self._frame = (self._frame + 1) % len(SPINNER)
            self._render_line()

    def watch_torch_state(self) -> None:
        self._render_line()

    def watch_cuda_text(self) -> None:
        self._render_line()

    def watch_extra(self) -> None:
        self._render_line()

    def _render_line(self) -> None:
        parts = []
        if self.torch_state.startswith("torch loading"):
            parts.append(f"{SPINNER[self._frame]} {self.torch_state}")
        else:
            parts.append(self.torch_state)
        if self.cuda_text:
            parts.append(self.cuda_text)
        if self._busy_since is not None:
            elapsed = time.monotonic() - self._busy_since
            parts.append(f"{SPINNER[self._frame]} {self._busy_label} {elapsed:.1f}s")
        if self.extra:
            parts.append(self.extra)
        self.update(" │ ".join(parts))
