"""The status line under every pane: torch state, default device, memory, busy spinner.

It shows ``torch loading…`` until the engine is ready, then the torch version and the
session's device, that device's CUDA memory allocated / reserved when there is CUDA, the
machine's CPU % and this process's RSS, each GPU's utilisation and memory (NVML), a
spinner with the elapsed time while REPL code runs, and a slot other panes use
(training progress).

The system figures come from a :class:`SystemFeed`: a ``SystemSampler`` thread (the
engine's, every 2 s) formats its reading into text off the UI thread; a 2 s UI timer
only compares that text with what is shown and updates the line when it changed, so an
idle screen sends nothing to the terminal. The line repaints only its own row, only when
its text changed, and never asks for a layout (``widgets.common.text_update``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from textual.reactive import reactive
from textual.timer import Timer
from textual.widgets import Static

from tui.core.text import human_bytes
from widgets.common.text_update import set_text

if TYPE_CHECKING:
    from tui.core.repl.session import Session
    from tui.core.train.system import SystemSample, SystemSampler

SYSTEM_EVERY = 2.0
_MB = 1024 * 1024

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


class StatusLine(Static):
    """One line of state, refreshed by the app and by a timer while busy."""

    torch_state: reactive[str] = reactive("torch loading…")
    """'torch loading…', or the version and device once loaded."""
    cuda_text: reactive[str] = reactive("")
    """CUDA memory allocated / reserved, or '' without CUDA."""
    extra: reactive[str] = reactive("")
    """A slot for other panes: a compact training progress indicator."""
    system_text: reactive[str] = reactive("")
    """CPU %, RSS and per-GPU figures (from a :class:`SystemFeed`), or ''."""

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

    def watch_system_text(self) -> None:
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
        if self.system_text:
            parts.append(self.system_text)
        if self.extra:
            parts.append(self.extra)
        # One fixed-size line: repaint only this row, and only when its text changed (a
        # layout would repaint every scrollbar on the screen: widgets.common.text_update).
        set_text(self, " │ ".join(parts))


def cuda_index(device: str | None) -> int | None:
    """0 for ``cuda``, 1 for ``cuda:1``, None for any other device."""
    if not device or not device.startswith("cuda"):
        return None
    _, _, index = device.partition(":")
    return int(index) if index.isdigit() else 0


def coarse(value: float, step: float) -> float:
    """``value`` rounded to a multiple of ``step`` (figures that do not jitter)."""
    return round(value / step) * step


def _gb(mb: float | None) -> str:
    return "?" if mb is None else f"{mb / 1024:.1f}"


def system_text(sample: SystemSample, device: str | None = None) -> str:
    """``CPU 12% RSS 1.2 GiB │ GPU1 45% 3.2/80.0G`` (the session's GPU first): the status
    line's system figures."""
    # Coarse steps (5 % and 16 MiB): jitter of a point or a page must not repaint the
    # line every 2 s on an idle screen; bytes to the terminal are the budget over SSH.
    parts = []
    cpu = [] if sample.cpu_percent is None else [f"CPU {coarse(sample.cpu_percent, 5):.0f}%"]
    if sample.process_rss_mb is not None:
        cpu.append(f"RSS {human_bytes(coarse(sample.process_rss_mb, 16) * _MB)}")
    if cpu:
        parts.append(" ".join(cpu))
    index = cuda_index(device)
    for g in sorted(sample.gpus, key=lambda g: g.index != index):
        util = "?" if g.util is None else f"{coarse(g.util, 5):.0f}%"
        parts.append(f"GPU{g.index} {util} {_gb(g.memory_used_mb)}/{_gb(g.memory_total_mb)}G")
    return " │ ".join(parts)


def cuda_memory_of(sample: SystemSample, device: str | None) -> dict[str, int] | None:
    """torch's allocated / reserved bytes on the session's CUDA device (``cuda:1``, not
    the current device), or None when this process has not used that device."""
    index = cuda_index(device)
    for mem in sample.cuda:
        if mem.index == index:
            return {
                "allocated": int(mem.allocated_mb * _MB),
                "reserved": int(mem.reserved_mb * _MB),
            }
    return None


class SystemFeed:
    """Feeds a :class:`StatusLine` the system figures (module docstring).

    ``start()`` starts the sampler thread and the line's timer; ``stop()`` stops and
    joins the thread (the app calls it on unmount: it is not a daemon).
    """

    def __init__(self, status: StatusLine, session: Session, interval: float = SYSTEM_EVERY):
        self.status = status
        self.session = session
        self.interval = interval
        # Written by the sampler thread, read by the UI timer.
        self.text = ""
        self.cuda: dict[str, int] | None = None
        self.sample: SystemSample | None = None  # the latest, for other views of it
        self.device: str | None = None
        # Called on the UI thread with each new sample (the monitor's system strip).
        self.subscribers: list[Callable[[SystemSample, str | None], None]] = []
        self._shown: SystemSample | None = None
        self._sampler: SystemSampler | None = None
        self._timer: Timer | None = None

    def _format(self, sample: SystemSample) -> None:  # on the sampler's thread
        info = self.session.info
        device = info.device if info is not None else None
        self.cuda = cuda_memory_of(sample, device)
        self.text = system_text(sample, device)
        self.device = device
        self.sample = sample

    def start(self) -> SystemFeed:
        from tui.core.train.system import SystemSampler

        self._sampler = SystemSampler(self.interval, on_sample=self._format).start()
        self._timer = self.status.set_interval(self.interval, self.show)
        return self

    def show(self) -> None:
        """Put the latest text on the line (a no-op when it did not change)."""
        # Reactives compare before they repaint: an unchanged text sends nothing.
        self.status.system_text = self.text
        if self.cuda is not None:
            self.status.set_cuda(self.cuda)
        sample = self.sample
        if sample is not None and sample is not self._shown:
            self._shown = sample
            for subscriber in list(self.subscribers):
                subscriber(sample, self.device)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        if self._sampler is not None:
            self._sampler.stop()
            self._sampler = None
