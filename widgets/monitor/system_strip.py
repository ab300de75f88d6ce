"""The monitor's system strip: the machine, this process, each GPU and torch's CUDA memory,
under the run form.

::

    CPU 50%  RAM 12.1/23.5G
    dltui CPU 95% RSS 352M
    GPU0 45% 10/80G 61° 210W
    torch 1.2/2.0G peak 3.1G

It is fed the samples of the app's :class:`~widgets.common.status_line.SystemFeed` (the
engine's sampler thread, every 2 s; NVML lines only where an NVIDIA driver answers).
Figures move in coarse steps and the text is set only when it changed, so a steady
machine costs the terminal nothing; the strip shows what fits in its rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Static

from widgets.common.status_line import coarse, cuda_index
from widgets.common.text_update import set_text

if TYPE_CHECKING:
    from tui.core.train.system import SystemSample


def _g(mb: float | None) -> str:
    """MB as GiB with one decimal (``?`` when unknown)."""
    return "?" if mb is None else f"{coarse(mb / 1024, 0.1):.1f}"


def _gpu_g(mb: float | None) -> str:
    """GPU memory, short: whole GiB from 10 GiB on (``10/140G``), else one decimal."""
    if mb is None:
        return "?"
    gib = mb / 1024
    return f"{gib:.0f}" if gib >= 10 else f"{coarse(gib, 0.1):.1f}"


def _size(mb: float) -> str:
    """A process size: ``352M`` below 1 GiB (16 MiB steps), else ``1.3G``."""
    if mb < 1024:
        return f"{coarse(mb, 16):.0f}M"
    return f"{_g(mb)}G"


def strip_lines(sample: SystemSample, device: str | None = None) -> list[str]:
    """The strip's lines for one sample; the session's GPU (``cuda:N``) comes first."""
    lines = []
    machine = []
    if sample.cpu_percent is not None:
        machine.append(f"CPU {coarse(sample.cpu_percent, 5):.0f}%")
    if sample.memory_used_mb is not None and sample.memory_total_mb is not None:
        machine.append(f"RAM {_g(sample.memory_used_mb)}/{_g(sample.memory_total_mb)}G")
    if machine:
        lines.append("  ".join(machine))
    proc = []
    if sample.process_cpu_percent is not None:
        proc.append(f"CPU {coarse(sample.process_cpu_percent, 5):.0f}%")
    if sample.process_rss_mb is not None:
        proc.append(f"RSS {_size(sample.process_rss_mb)}")
    if proc:
        lines.append("dltui " + " ".join(proc))
    index = cuda_index(device)
    for g in sorted(sample.gpus, key=lambda g: g.index != index):
        parts = [f"GPU{g.index}"]
        parts.append("?%" if g.util is None else f"{coarse(g.util, 5):.0f}%")
        parts.append(f"{_gpu_g(g.memory_used_mb)}/{_gpu_g(g.memory_total_mb)}G")
        if g.temperature_c is not None:
            parts.append(f"{g.temperature_c:.0f}°")
        if g.power_w is not None:
            parts.append(f"{coarse(g.power_w, 5):.0f}W")
        lines.append(" ".join(parts))
    for mem in sorted(sample.cuda, key=lambda m: m.index != index):
        name = "torch" if len(sample.cuda) == 1 else f"torch{mem.index}"
        lines.append(
            f"{name} {_g(mem.allocated_mb)}/{_g(mem.reserved_mb)}G peak {_g(mem.peak_mb)}G"
        )
    return lines


class SystemStrip(Static):
    """A few lines of system figures (module docstring)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__("", **kwargs)  # type: ignore[arg-type]
        self.samples = 0

    def show_sample(self, sample: SystemSample, device: str | None = None) -> None:
        """Show ``sample`` (on the UI thread); nothing is repainted when the text holds."""
        self.samples += 1
        set_text(self, "\n".join(strip_lines(sample, device)))
