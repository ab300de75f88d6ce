"""plotext's ANSI output as rows of styled segments, read fast.

The loss plot is rebuilt on the UI thread about once a second. ``rich.Text.from_ansi``
decodes every escape code of every cell group anew (a few thousand a figure at 120x40,
~20 ms); plotext writes the same few codes over and over (``ESC[48;5;0m ESC[38;5;6m
text ESC[0m``), so here each distinct run of codes is decoded once and its Style cached.

The rows compare cheaply (lists of (text, Style)), which is how the plot finds the cells
that changed between two figures.
"""

from __future__ import annotations

import re
from functools import lru_cache

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text

_SGR = re.compile(r"(\x1b\[[0-9;]*m)")
_RESET = {"\x1b[0m", "\x1b[m"}


@lru_cache(maxsize=256)
def _style_of(codes: str) -> Style:
    """The style a run of SGR codes sets, as rich's own ANSI decoder reads it."""
    text = Text.from_ansi(codes + "x")
    style = Style()
    for span in text.spans:
        style += span.style if isinstance(span.style, Style) else Style.parse(str(span.style))
    return style


def ansi_rows(ansi: str) -> list[list[Segment]]:
    """Each line of ``ansi`` as segments. Codes accumulate until a reset, as a terminal
    reads them; any other escape sequence is dropped (plotext writes none)."""
    rows = []
    for line in ansi.split("\n"):
        row: list[Segment] = []
        codes = ""
        for part in _SGR.split(line):
            if not part:
                continue
            if part.startswith("\x1b["):
                codes = "" if part in _RESET else codes + part
                continue
            part = part.replace("\x1b", "")
            if part:
                row.append(Segment(part, _style_of(codes) if codes else None))
        rows.append(row)
    return rows


def cells(row: list[Segment]) -> list[tuple[str, Style | None]] | None:
    """Each cell of ``row`` with its style, or None when a character is not one cell
    wide (then columns are not string indexes)."""
    out: list[tuple[str, Style | None]] = []
    for segment in row:
        if cell_len(segment.text) != len(segment.text):
            return None
        out.extend((ch, segment.style) for ch in segment.text)
    return out


def changed_span(before: list[Segment], after: list[Segment], width: int) -> tuple[int, int]:
    """The columns ``[x0, x1)`` where two rows differ: from the first to the last cell
    whose character or style changed (the whole row when in doubt)."""
    a, b = cells(before), cells(after)
    if a is None or b is None or len(a) != len(b):
        return 0, width
    diff = [i for i, (p, q) in enumerate(zip(a, b, strict=True)) if p != q]
    if not diff:
        return 0, width
    return diff[0], min(width, diff[-1] + 1)


def row_text(row: list[Segment]) -> Text:
    """A row as rich Text (for ``render()``, tests and copying)."""
    text = Text()
    for segment in row:
        text.append(segment.text, segment.style)
    return text
