"""Tests of the builder table's column fitting (widgets.builder.columns), without an app:
the widest layout that fits, shortened in order, errors cut to the room left.
"""

from __future__ import annotations

import pytest

from tui.core.text import compact_count
from widgets.builder.columns import RowCells, cut, error_cell, fit_columns


def row(i: int, args: str, short: str, shape: str, params: int, error: str | None = None):
    return RowCells(str(i), "Conv2d", args, short, shape, params, params * 10, "50.0%", error)


WIDE = [
    row(
        0,
        "in_channels=auto, out_channels=6, kernel_size=5, padding=2",
        "auto, 6, 5, padding=2",
        "(6, 28, 28)",
        156,
    ),
    row(1, "in_channels=auto, out_channels=16, kernel_size=5", "auto, 16, 5", "(16, 10, 10)", 2416),
]


@pytest.mark.parametrize(
    ("n", "text"),
    [
        (0, "0"),
        (9_999, "9,999"),
        (10_000, "10k"),
        (401_920, "402k"),
        (1_234_567, "1.2M"),
        (61_000_000_000, "61G"),
        (3 * 10**13, "30T"),
    ],
)
def test_compact_count(n: int, text: str) -> None:
    assert compact_count(n) == text


def test_a_wide_table_keeps_its_long_forms() -> None:
    layout = fit_columns(WIDE, 200)
    assert layout.rows[0][2].startswith("in_channels=auto") and layout.rows[1][3] == "(16, 10, 10)"
    assert layout.labels[3] == "output shape" and "share" in layout.keys


@pytest.mark.parametrize("width", [80, 70, 60, 50])
def test_the_layout_fits_and_shortens_in_order(width: int) -> None:
    layout = fit_columns(WIDE, width)
    assert layout.width <= width
    args = [r[2] for r in layout.rows]
    assert args[1] in ("auto, 16, 5", "auto, 16…") or args[1].endswith("…")
    if width >= 70:  # short forms are enough: nothing is cut, share stays
        assert args == ["auto, 6, 5, padding=2", "auto, 16, 5"] and "share" in layout.keys


def test_an_error_gets_the_room_left_and_the_numbers_stay() -> None:
    error = "expects 3 input channels but receives 1 in (1, 28, 28): set in_channels to 1"
    rows = [row(0, "in_channels=3", "3", "", 0, error=error), *WIDE[1:]]
    for width in (200, 80, 60):
        layout = fit_columns(rows, width)
        assert layout.width <= width and layout.rows[0][3].startswith("✗")
        assert layout.rows[1][4] in ("2,416", "2.4k")
    assert fit_columns(rows, 200).rows[0][3] == "✗ " + error


def test_cut_and_error_cell() -> None:
    assert cut("abcdef", 6) == "abcdef" and cut("abcdef", 4) == "abc…"
    sentence = "expects last dim 100 but receives (512,): set in_features to 512"
    assert error_cell(sentence, 80) == "✗ " + sentence
    assert error_cell(sentence, 45) == "✗ expects last dim 100 but receives (512,)"
    assert error_cell(sentence, 25) == "✗ expects last dim 100…"
    assert error_cell(sentence, 12) == "✗ see below" and error_cell(sentence, 3) == "✗"
