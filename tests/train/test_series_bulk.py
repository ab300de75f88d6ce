"""Bulk appends (a run source's poll) give the same series as appending point by point."""

from __future__ import annotations

import numpy as np
import pytest

from tui.core.train.series import ColumnAggregate, MetricSeries


@pytest.mark.parametrize("chunks", [1, 3, 17])
def test_extend_arrays_matches_append(chunks: int) -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    steps = np.arange(1, n + 1) * 3
    values = rng.normal(size=n)
    values[[5, 500]] = np.nan  # non-finite values pass through unsmoothed
    values[700] = np.inf
    times = 1000.0 + steps / 10
    one = MetricSeries("a", 0.6)
    for s, v, t in zip(steps, values, times, strict=True):
        one.append(int(s), float(v), float(t))
    bulk = MetricSeries("a", 0.6)
    for part in np.array_split(np.arange(n), chunks):
        bulk.extend_arrays(steps[part], values[part], times[part])
    assert len(bulk) == n
    np.testing.assert_array_equal(bulk.steps, one.steps)
    np.testing.assert_array_equal(bulk.times, one.times)
    np.testing.assert_allclose(bulk.smoothed, one.smoothed, rtol=1e-9, equal_nan=True)
    for smoothed in (False, True):
        xa, ya = one.plot_points(80, smoothed=smoothed)
        xb, yb = bulk.plot_points(80, smoothed=smoothed)
        np.testing.assert_allclose(yb, ya, rtol=1e-9)
        np.testing.assert_array_equal(xb, xa)
    bulk.append(10**6, 0.5)  # point-by-point appends continue the same average
    one.append(10**6, 0.5)
    assert bulk.smoothed[-1] == pytest.approx(one.smoothed[-1])


def test_column_aggregate_add_arrays_keeps_spikes() -> None:
    xs = np.arange(100_000, dtype=float)
    ys = np.zeros(100_000)
    ys[54_321] = 9.0
    agg = ColumnAggregate(capacity=64)
    agg.add_arrays(xs, ys)
    _, cols = agg.columns(16)
    assert cols.max() == 9.0 and len(agg) == 100_000
