"""One formatter of each kind, shared by the engine, the widgets and the commands.

Shapes, byte sizes, durations, numbers and an exception's first line are written the
same way everywhere a user reads them, so a shape printed by the builder reads like the
one in a data-mismatch message.
"""

from __future__ import annotations

import math
from collections.abc import Iterable


def shape_text(shape: Iterable[int | str], batch: bool = False) -> str:
    """``(1, 28, 28)``; a one-dim shape keeps Python's comma: ``(784,)``.

    With ``batch``, the first dimension is written ``B`` (a shape as a model sees it).
    """
    dims = [str(d) for d in shape]
    if batch and dims:
        dims[0] = "B"
    return "(" + ", ".join(dims) + ("," if len(dims) == 1 else "") + ")"


def human_bytes(n: int | float) -> str:
    """1536 -> '1.5 KiB'."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(size) < 1024 or unit == "TiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def duration_text(seconds: float | None) -> str:
    """``4:05`` under an hour, ``1:02:03`` above; ``-`` when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "-"
    s = round(seconds)
    if s >= 3600:
        return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


def number_text(value: float | None, spec: str = ".4g") -> str:
    """A metric value; ``-`` when unknown, ``nan``/``inf`` as Python writes them."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return format(value, spec)


def first_line(exc: BaseException) -> str:
    """The first non-blank line of an exception's message, else its type's name."""
    try:
        text = str(exc)
    except Exception:  # a user's __str__ can raise; the type still says something
        text = ""
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return type(exc).__name__


def compact_count(n: int) -> str:
    """``5,130``; from 10,000 on three digits and a unit: ``402k``, ``1.2M``, ``61G``."""
    if n < 10_000:
        return f"{n:,}"
    for unit, size in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= size:
            value = n / size
            text = f"{value:.1f}" if value < 10 else f"{value:.0f}"
            return f"{text}{unit}"
    raise AssertionError("unreachable")
