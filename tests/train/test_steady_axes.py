"""Steady plot axes (issue 9): bounds that hold while the data stays inside them, and
columns cut from those bounds, so a new point changes the last column, not every one."""

from __future__ import annotations

import numpy as np

from tui.core.train.series import downsample_minmax
from widgets.monitor.ansi_rows import ansi_rows, changed_span
from widgets.monitor.loss_plot import steady_range


def test_steady_range_holds_then_grows_on_round_steps() -> None:
    first = steady_range(1, 2000, None, 0.5)
    assert first[0] <= 1 and first[1] >= 3000  # headroom on the right
    assert steady_range(1, 2500, first, 0.5) == first  # still inside: held
    grown = steady_range(1, first[1] + 1, first, 0.5)
    assert grown[1] > first[1]
    assert steady_range(0.004, 0.73) == (0.0, 0.8)
    lo, hi = steady_range(5.0, 5.0)
    assert lo < 5.0 < hi  # one value still gets a span


def test_columns_from_a_held_axis_do_not_move_with_new_points() -> None:
    xs = np.arange(1, 1001, dtype=float)
    ys = np.sin(xs / 7.0)
    axis = (0.0, 2000.0)
    before = downsample_minmax(xs, ys, 50, axis)
    more = np.arange(1001, 1011, dtype=float)
    after = downsample_minmax(np.r_[xs, more], np.r_[ys, np.sin(more / 7.0)], 50, axis)
    # Every column left of the new points keeps exactly the same extremes.
    old = before[0] < 960
    new = after[0] < 960
    assert np.array_equal(before[0][old], after[0][new])
    assert np.array_equal(before[1][old], after[1][new])


def _span(before: str, after: str, width: int) -> tuple[int, int]:
    return changed_span(ansi_rows(before)[0], ansi_rows(after)[0], width)


def test_changed_span_is_the_cells_that_differ() -> None:
    a = "\x1b[31mab\x1b[0mcd  x"
    assert _span(a, "\x1b[31mab\x1b[0mcd  y", 7) == (6, 7)
    assert _span(a, "\x1b[32mab\x1b[0mcd  x", 7) == (0, 2)  # a colour alone
    assert _span("ab", "abc", 5) == (0, 5)  # a changed length: the whole row
    assert _span("a日", "b日", 5) == (0, 5)  # a wide character: the whole row


def test_ansi_rows_read_as_richs_decoder_does() -> None:
    from rich.console import Console
    from rich.text import Text

    from widgets.monitor.ansi_rows import row_text

    ansi = "\x1b[48;5;0m\x1b[38;5;3m4.00┤\x1b[0m\x1b[48;5;0m  \x1b[0m\x1b[1;31mx\x1b[0m y\nz"
    rows = ansi_rows(ansi)
    ours = Text("\n").join(row_text(r) for r in rows)
    theirs = Text.from_ansi(ansi)
    assert ours.plain == theirs.plain
    console = Console()
    for i in range(len(ours.plain)):
        assert ours.get_style_at_offset(console, i) == theirs.get_style_at_offset(console, i), i
