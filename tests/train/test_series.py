"""Metric series: TensorBoard's EMA, min/max downsampling, incremental aggregates, log-y."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tui.core.train.series import (
    ColumnAggregate,
    MetricPoint,
    MetricSeries,
    RunMetrics,
    downsample_minmax,
    drop_nonpositive,
    ema,
)


def tensorboard_ema(values, w):
    """TensorBoard's resmoothDataset, transcribed literally as the reference."""
    last = 0.0 if len(values) else math.nan
    num_accum = 0
    is_constant = all(v == values[0] for v in values)
    out = []
    for v in values:
        if is_constant or not math.isfinite(v):
            out.append(v)
            continue
        last = last * w + (1 - w) * v
        num_accum += 1
        debias = 1.0 if w == 1 else 1 - w**num_accum
        out.append(last / debias)
    return out


@pytest.mark.parametrize("w", [0.0, 0.3, 0.6, 0.9, 0.99, 0.999])
@pytest.mark.parametrize("n", [1, 2, 255, 256, 257, 3000])
def test_ema_matches_tensorboard(w, n):
    rng = np.random.default_rng(n)
    v = rng.normal(size=n).cumsum() + 10
    np.testing.assert_allclose(ema(v, w), tensorboard_ema(list(v), w), rtol=1e-9, atol=1e-9)


def test_ema_first_value_is_unbiased():
    # Debiasing: the first smoothed value equals the first value, not (1 - w) * value.
    assert ema([5.0, 1.0], 0.9)[0] == pytest.approx(5.0)


def test_ema_passes_nonfinite_through_and_skips_them():
    v = [1.0, math.nan, 3.0, math.inf, 2.0, -math.inf]
    got = ema(v, 0.5)
    ref = tensorboard_ema(v, 0.5)
    assert math.isnan(got[1]) and got[3] == math.inf and got[5] == -math.inf
    np.testing.assert_allclose(got[[0, 2, 4]], np.array(ref)[[0, 2, 4]])


def test_ema_constant_and_empty_and_bad_weight():
    np.testing.assert_array_equal(ema([0.1] * 5, 0.9), [0.1] * 5)
    assert ema([], 0.5).size == 0
    with pytest.raises(ValueError):
        ema([1.0], 1.5)


def brute_minmax(x, y, width):
    x, y = np.asarray(x, float), np.asarray(y, float)
    col = np.minimum(((x - x[0]) * (width / (x[-1] - x[0]))).astype(int), width - 1)
    keep = set()
    for c in np.unique(col):
        idx = np.flatnonzero(col == c)
        keep.add(idx[np.argmin(y[idx])])
        keep.add(idx[np.argmax(y[idx])])
    k = sorted(keep)
    return x[k], y[k]


@pytest.mark.parametrize("n,width", [(1000, 100), (10_007, 37), (5, 100), (300, 1)])
def test_downsample_matches_brute_force_and_bounds_points(n, width):
    rng = np.random.default_rng(0)
    x = np.arange(n, dtype=float)
    y = rng.normal(size=n)
    xs, ys = downsample_minmax(x, y, width)
    assert len(xs) <= max(2 * width, 0) or n <= 2 * width
    if n > 2 * width:
        bx, by = brute_minmax(x, y, width)
        np.testing.assert_array_equal(xs, bx)
        np.testing.assert_array_equal(ys, by)
    else:
        np.testing.assert_array_equal(ys, y)


def test_downsample_keeps_a_single_spike():
    y = np.ones(1_000_000)
    y[654_321] = 50.0
    xs, ys = downsample_minmax(np.arange(y.size), y, 100)
    assert len(xs) <= 200
    assert ys.max() == 50.0 and xs[ys.argmax()] == 654_321


def test_downsample_drops_nonfinite_and_sorts_unsorted_x():
    x = np.array([3.0, 1.0, 2.0, 0.0, 4.0])
    y = np.array([1.0, math.nan, 2.0, math.inf, 5.0])
    xs, ys = downsample_minmax(x, y, 10)
    np.testing.assert_array_equal(xs, [2.0, 3.0, 4.0])
    np.testing.assert_array_equal(ys, [2.0, 1.0, 5.0])
    with pytest.raises(ValueError):
        downsample_minmax([1, 2], [1], 10)
    with pytest.raises(ValueError):
        downsample_minmax([1], [1], 0)


def test_drop_nonpositive_for_log_scale():
    xs, ys = drop_nonpositive([1, 2, 3, 4, 5], [0.5, 0.0, -1.0, math.nan, 2.0])
    np.testing.assert_array_equal(xs, [1, 5])
    np.testing.assert_array_equal(ys, [0.5, 2.0])


def test_column_aggregate_bounded_and_keeps_extremes():
    agg = ColumnAggregate(capacity=256)
    rng = np.random.default_rng(1)
    n = 100_000
    y = rng.normal(size=n)
    y[77_777] = 40.0
    y[12_345] = -40.0
    for i in range(n):
        agg.add(float(i), float(y[i]))
    assert len(agg) == n
    assert agg._n <= 256  # memory and column cost stay bounded
    xs, ys = agg.columns(50)
    assert len(xs) <= 100
    assert ys.max() == 40.0 and xs[ys.argmax()] == 77_777
    assert ys.min() == -40.0 and xs[ys.argmin()] == 12_345
    assert np.all(np.diff(xs) >= 0)


def test_column_aggregate_close_to_full_downsample():
    agg = ColumnAggregate(capacity=4096)
    rng = np.random.default_rng(2)
    n = 50_000
    x = np.arange(1, n + 1, dtype=float)
    y = np.sin(x / 3000) + 0.1 * rng.normal(size=n)
    agg.add_many(x, y)
    ax, ay = agg.columns(100)
    fx, fy = downsample_minmax(x, y, 100)
    # Same extremes overall, and a per-column envelope that matches closely.
    assert ay.max() == fy.max() and ay.min() == fy.min()
    assert abs(len(ax) - len(fx)) <= 10


def test_column_aggregate_ignores_nonfinite():
    agg = ColumnAggregate()
    agg.add(0, 1.0)
    agg.add(1, math.nan)
    agg.add(2, math.inf)
    assert agg.dropped == 2
    _, ys = agg.columns(10)
    np.testing.assert_array_equal(ys, [1.0])
    agg.clear()
    assert agg.columns(10)[0].size == 0


def test_metric_series_append_views_and_growth():
    s = MetricSeries("train/loss", smoothing=0.0, capacity=16)
    for i in range(1000):
        s.append(i + 1, 1.0 / (i + 1), time=100.0 + i, epoch=i // 100 + 1)
    assert len(s) == 1000
    assert s.steps[-1] == 1000 and s.epochs[-1] == 10 and s.times[0] == 100.0
    assert s.last == pytest.approx(1e-3) and s.last_step == 1000
    assert s.best() == pytest.approx(1e-3) and s.best("max") == 1.0
    with pytest.raises(ValueError):
        s.values[0] = 5.0  # read-only view
    s.extend([MetricPoint(1001, 11, 0.0, "train/loss", 0.5)])
    assert len(s) == 1001


def test_metric_series_incremental_smoothing_equals_batch():
    rng = np.random.default_rng(3)
    v = rng.normal(size=2000) + 3
    v[500] = math.nan
    s = MetricSeries(smoothing=0.9)
    for i, x in enumerate(v[:1200]):
        s.append(i, x)
    np.testing.assert_allclose(s.smoothed, ema(v[:1200], 0.9), rtol=1e-9, equal_nan=True)
    # Changing the weight recomputes once; later appends continue the same average.
    s.smoothing = 0.6
    for i, x in enumerate(v[1200:], start=1200):
        s.append(i, x)
    np.testing.assert_allclose(s.smoothed, ema(v, 0.6), rtol=1e-9, equal_nan=True)


def test_metric_series_plot_points_bounded():
    s = MetricSeries(smoothing=0.9)
    for i in range(20_000):
        s.append(i, math.sin(i / 500) + (10.0 if i == 15_000 else 0.0))
    xs, ys = s.plot_points(80)
    assert len(xs) <= 160
    assert ys.max() == s.values.max() and xs[ys.argmax()] == 15_000  # the spike survives
    sx, sy = s.plot_points(80, smoothed=True)
    assert len(sx) <= 160 and sy.max() < ys.max()
    assert MetricSeries().plot_points(80)[0].size == 0


def test_run_metrics_routes_points_by_name():
    m = RunMetrics(smoothing=0.5)
    added = m.add(
        [
            MetricPoint(1, 1, 0.0, "train/loss", 1.0),
            MetricPoint(2, 1, 0.0, "train/loss", 0.5),
            MetricPoint(2, 1, 0.0, "val/loss", 0.7),
        ]
    )
    assert added == 3 and m.names == ["train/loss", "val/loss"]
    assert len(m["train/loss"]) == 2 and "val/loss" in m and m.get("lr") is None
    m.smoothing = 0.0
    np.testing.assert_array_equal(m["train/loss"].smoothed, [1.0, 0.5])
    with pytest.raises(ValueError):
        m.smoothing = 2
