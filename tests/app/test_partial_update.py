"""Partial updates send only the dirty span of each line (widgets/common/partial_update.py),
and the screen they leave is the one Textual's own update leaves."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st
from rich.cells import cell_len
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate
from textual.strip import Strip

from widgets.common.partial_update import install, render_segments, start_cell

_ORIGINAL = ChopsUpdate.render_segments
_CONSOLE = Console(width=200, color_system="truecolor", force_terminal=True)
_MOVE = re.compile(r"\x1b\[(\d+);(\d+)H")
_SGR = re.compile(r"\x1b\[[0-9;]*m")


def paint(rows: list[list[str]], output: str) -> None:
    """Apply ``output`` (cursor moves, colours, text) to a grid of cells; a wide
    character takes its cell and blanks the next one."""
    y = x = 0
    pos = 0
    for m in _MOVE.finditer(output):
        _write(rows, y, x, _SGR.sub("", output[pos : m.start()]).replace("\n", ""))
        y, x = int(m.group(1)) - 1, int(m.group(2)) - 1
        pos = m.end()
        # Text written after this move starts at (y, x); advance is handled by _write.
    _write(rows, y, x, _SGR.sub("", output[pos:]).replace("\n", ""))


def _write(rows: list[list[str]], y: int, x: int, text: str) -> None:
    for ch in text:
        width = cell_len(ch)
        rows[y][x] = ch
        if width == 2:
            rows[y][x + 1] = ""
        x += width


def update(strip: Strip, x: int, span: tuple[int, int], width: int) -> ChopsUpdate:
    return ChopsUpdate([{x: strip}], [(0, *span)], [[x + width]])


def test_only_the_dirty_cells_are_sent() -> None:
    strip = Strip([Segment("0.13┤", Style(color="white")), Segment("ab  cd", Style(color="cyan"))])
    out = render_segments(update(strip, 30, (39, 41), 11), _CONSOLE)
    assert _MOVE.findall(out) == [("1", "40")]  # column 39, not the widget's left edge
    assert _SGR.sub("", _MOVE.sub("", out)) == "cd"
    assert len(out) < len(_ORIGINAL(update(strip, 30, (39, 41), 11), _CONSOLE))


def test_a_wide_character_is_never_cut() -> None:
    strip = Strip([Segment("ab"), Segment("日本語")])
    assert start_cell(strip, 3) == 2  # inside 日: the segment's start
    assert start_cell(strip, 1) == 1
    out = render_segments(update(strip, 0, (3, 8), 8), _CONSOLE)
    assert _SGR.sub("", _MOVE.sub("", out)) == "日本語"


TEXT = st.text(alphabet=st.sampled_from("ab •▄▀┤日"), min_size=1, max_size=6)
STYLES = st.sampled_from([Style(), Style(color="cyan"), Style(color="red", bgcolor="black")])


@given(
    st.lists(st.tuples(TEXT, STYLES), min_size=1, max_size=8),
    st.integers(0, 60),
    st.integers(0, 60),
    st.integers(0, 5),
)
def test_the_screen_is_the_same_as_with_textuals_update(segments, a, b, x) -> None:
    strip = Strip([Segment(t, s) for t, s in segments])
    width = strip.cell_length
    x1, x2 = sorted((a % (width + 1), b % (width + 1)))
    if x1 == x2:
        x2 = min(width, x1 + 1)
    # Outside the dirty span the screen already shows the new line (what "dirty" means).
    before = [[" "] * 80]
    paint(before, _ORIGINAL(update(strip, x, (0, x + width), width), _CONSOLE))
    ours, theirs = [list(before[0])], [list(before[0])]
    upd = update(strip, x, (x + x1, x + x2), width)
    paint(ours, render_segments(upd, _CONSOLE))
    paint(theirs, _ORIGINAL(upd, _CONSOLE))
    assert ours == theirs
    assert len(render_segments(upd, _CONSOLE)) <= len(_ORIGINAL(upd, _CONSOLE))


def test_install_replaces_textuals_method_once() -> None:
    assert install()
    assert install()
    assert ChopsUpdate.render_segments is render_segments
