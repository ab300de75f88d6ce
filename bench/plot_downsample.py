"""Loss-plot cost with and without per-column min/max downsampling, side by side.

Usage: .venv/bin/python bench/plot_downsample.py [--rounds N] [--sizes 1000,100000,1000000]

The baseline is what a naive monitor does: hand plotext every point of a loss series,
``plt.clf(); plt.plotsize(100, 25); plt.plot(x, y); plt.build()``. The case hands it the
same series reduced by ``downsample_minmax(x, y, 100)`` (at most 2 points per column),
timed together with the reduction. The machine is noisy (shared cores), so each round
times baseline and case back to back and the medians are compared.

Then what the reduction itself costs:
- ``downsample_minmax`` on the whole series (O(n) NumPy, what a one-off redraw pays);
- ``MetricSeries.plot_points(100)``, the monitor's path: column aggregates kept up to
  date as points arrive, so a redraw costs the same at 10^3 and 10^6 points;
- ``MetricSeries.append`` per point (paid on the drain timer, not per redraw).

The raw 10^6-point build takes seconds per round: fewer rounds are run for it.

``--json PATH`` also writes the figures for ``bench/run_all.py`` (``bench/common.py``).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import plotext as plt

from tui.core.train.series import MetricSeries, downsample_minmax

WIDTH, HEIGHT = 100, 25


def loss_curve(n: int) -> tuple[np.ndarray, np.ndarray]:
    """A noisy decaying loss with a few spikes, like a real run."""
    rng = np.random.default_rng(0)
    x = np.arange(1, n + 1, dtype=np.float64)
    y = 2.0 * np.exp(-x / (n / 5)) + 0.1 + 0.05 * rng.standard_normal(n)
    y[rng.integers(0, n, size=5)] += 1.5
    return x, y


def build(x: np.ndarray, y: np.ndarray) -> None:
    plt.clf()
    plt.plotsize(WIDTH, HEIGHT)
    plt.plot(x.tolist(), y.tolist())
    plt.build()


def timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def filled_series(x: np.ndarray, y: np.ndarray) -> tuple[MetricSeries, float]:
    """A MetricSeries holding the curve, and the append cost per point in microseconds."""
    series = MetricSeries("train/loss", smoothing=0.6)
    t0 = time.perf_counter()
    for xi, yi in zip(x.tolist(), y.tolist(), strict=True):
        series.append(int(xi), yi)
    return series, (time.perf_counter() - t0) / len(x) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5, help="rounds per size (default 5)")
    ap.add_argument("--sizes", default="1000,100000,1000000")
    ap.add_argument("--json", default=None, help="write the figures here (for run_all)")
    args = ap.parse_args()
    figures: list[tuple[str, float, float, str]] = []
    sizes = [int(s) for s in args.sizes.split(",")]

    print(f"plotext build() at {WIDTH}x{HEIGHT} of every point (baseline) vs reduced to")
    print("at most 2 points per column: downsample_minmax, or the monitor's plot_points")
    print(
        f"{'points':>9} {'rounds':>6} {'raw build':>11} {'minmax+build':>13} {'ratio':>7} "
        f"{'plot_points+build':>18} {'ratio':>7} {'kept':>5}"
    )
    filled = {}
    build(np.arange(2.0), np.arange(2.0))  # plotext's first-call costs out of the figures
    for n in sizes:
        x, y = loss_curve(n)
        series, append_us = filled_series(x, y)
        filled[n] = (x, y, series, append_us)
        # A raw 10^6-point build takes seconds: fewer rounds there.
        rounds = args.rounds if n <= 100_000 else max(1, min(args.rounds, 3))
        raw, down, mon, kept = [], [], [], 0
        for _ in range(rounds):
            raw.append(timed(lambda x=x, y=y: build(x, y)))

            def reduced(x=x, y=y) -> None:
                nonlocal kept
                xs, ys = downsample_minmax(x, y, WIDTH)
                kept = len(xs)
                build(xs, ys)

            down.append(timed(reduced))
            mon.append(timed(lambda s=series: build(*s.plot_points(WIDTH))))
        r, d, m = median_ms(raw), median_ms(down), median_ms(mon)
        print(
            f"{n:>9,} {rounds:>6} {r:>9.1f}ms {d:>11.2f}ms {r / d:>6.0f}x "
            f"{m:>16.2f}ms {r / m:>6.0f}x {kept:>5}"
        )
        figures.append((f"plot redraw of {n:,} points", r, m, "raw build"))

    print()
    print("cost of the reduction itself (medians; a monitor redraw pays plot_points)")
    print(
        f"{'points':>9} {'downsample_minmax':>18} {'plot_points':>12} "
        f"{'ratio':>7} {'append/point':>13}"
    )
    for n in sizes:
        x, y, series, append_us = filled[n]
        mm = [timed(lambda x=x, y=y: downsample_minmax(x, y, WIDTH)) for _ in range(args.rounds)]
        pp = [timed(lambda s=series: s.plot_points(WIDTH)) for _ in range(args.rounds)]
        m, p = median_ms(mm), median_ms(pp)
        print(f"{n:>9,} {m:>16.2f}ms {p:>10.2f}ms {m / p:>6.1f}x {append_us:>11.2f}us")
        figures.append((f"plot_points of {n:,} points", m, p, "downsample_minmax"))

    if args.json:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from common import Figure, write_figures

        write_figures(
            args.json,
            [
                Figure(name, base, case, "ms", label, "-", None, group="plot downsample")
                for name, base, case, label in figures
            ],
        )


if __name__ == "__main__":
    main()
