"""The loss plot's x ticks: round 1-2-5 steps, whole counts written compactly."""

from __future__ import annotations

import pytest

from widgets.monitor.loss_plot import nice_ticks, tick_label


@pytest.mark.parametrize(
    ("lo", "hi", "ticks"),
    [
        (1.0, 130.0, [25.0, 50.0, 75.0, 100.0, 125.0]),
        (0.0, 1_000_000.0, [0.0, 250_000.0, 500_000.0, 750_000.0, 1_000_000.0]),
        (1.0, 10.0, [2.0, 4.0, 6.0, 8.0, 10.0]),
        (0.0, 1.0, [0.0, 0.25, 0.5, 0.75, 1.0]),
    ],
)
def test_ticks_fall_on_round_steps(lo: float, hi: float, ticks: list[float]) -> None:
    assert nice_ticks(lo, hi) == pytest.approx(ticks)


def test_no_ticks_for_an_empty_or_broken_range() -> None:
    assert nice_ticks(5.0, 5.0) == []
    assert nice_ticks(0.0, float("inf")) == []


def test_labels_are_compact_counts_or_short_fractions() -> None:
    assert [tick_label(t) for t in (0.0, 250_000.0, 1_200_000.0, 50.0)] == [
        "0",
        "250k",
        "1.2M",
        "50",
    ]
    assert tick_label(0.5) == "0.5"
