"""Partial screen updates that send only the changed part of a line, not the whole
widget's line up to it.

A widget that calls ``refresh(region)`` marks just those cells dirty, and Textual's
compositor knows the span ``[x1, x2)`` of every dirty line. But when it writes the
update (``ChopsUpdate.render_segments`` in Textual 8.2) it crops each widget's line at
``x2`` only: the cursor goes to the widget's left edge and everything from there is
sent again. For the loss plot, where a new point changes a few cells at the right end
of some rows, that was a whole row of colour escapes each time, ~1 KB a row at 120
columns: most of the monitor's bytes over SSH.

:func:`install` replaces that method with one that also starts at ``x1``: exactly there
when the text before it in its segment is single-width characters, else at the start of
the segment (never inside a wide character). What reaches the screen is the same; only
cells that did not change are no longer sent.
"""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.console import Console
from rich.control import Control
from textual.strip import Strip

_installed = False


def start_cell(strip: Strip, offset: int) -> int:
    """The first cell to send of ``strip`` when only cells from ``offset`` on changed:
    ``offset`` itself, or the start of its segment when that segment has wide characters
    (cutting one in half would leave half a character on the screen)."""
    pos = 0
    for segment in strip:
        width = cell_len(segment.text)
        if pos + width > offset:
            if segment.control or width != len(segment.text):
                return pos
            return offset
        pos += width
    return min(offset, pos)


def render_segments(update: Any, console: Console) -> str:
    """``ChopsUpdate.render_segments`` cropped at both ends of each dirty span."""
    sequences: list[str] = []
    append = sequences.append
    move_to = Control.move_to
    chops = update.chops
    chop_ends = update.chop_ends
    last_y = update.spans[-1][0]
    for y, x1, x2 in update.spans:
        line = chops[y]
        ends = chop_ends[y]
        for end, (x, strip) in zip(ends, line.items(), strict=False):
            if strip is None or x > x2 or end <= x1:
                continue
            if x2 > x >= x1 and end <= x2:
                append(move_to(x, y).segment.text)
                append(strip.render(console))
                continue
            start = start_cell(strip, x1 - x) if x < x1 else 0
            cropped = strip.crop(start, min(end, x2) - x)
            append(move_to(x + start, y).segment.text)
            append(cropped.render(console))
        if y != last_y:
            append("\n")
    return "".join(sequences)


def install() -> bool:
    """Use :func:`render_segments` for every partial update (once). Returns False, and
    leaves Textual as it is, if its compositor is not the shape this was written for."""
    global _installed
    if _installed:
        return True
    try:
        from textual._compositor import ChopsUpdate
    except ImportError:
        return False
    if not hasattr(ChopsUpdate, "render_segments"):
        return False
    ChopsUpdate.render_segments = render_segments  # type: ignore[method-assign]
    _installed = True
    return True
