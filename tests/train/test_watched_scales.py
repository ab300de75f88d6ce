"""Several tags on one plot only where their scales agree (dltui watch, T)."""

from __future__ import annotations

import numpy as np

from tui.core.train.series import MetricSeries
from widgets.monitor.watched import WatchedRuns, scales_agree


def _series(name: str, values: np.ndarray) -> MetricSeries:
    s = MetricSeries(name)
    s.extend_arrays(np.arange(len(values)), values)
    return s


def test_tags_share_the_plot_only_on_a_common_scale() -> None:
    watched = WatchedRuns(follower=None)  # type: ignore[arg-type]  # the choices only
    rng = np.random.default_rng(0)
    watched.series = {
        "run-a": {
            "Loss/train": _series("Loss/train", 0.5 + 0.1 * rng.random(100)),
            "Loss/val": _series("Loss/val", 0.7 + 0.1 * rng.random(100)),
            "lr": _series("lr", np.full(100, 1e-3)),
        },
        "run-b": {"Loss/train": _series("Loss/train", 0.4 + 0.1 * rng.random(100))},
    }
    watched.tags = ["Loss/train"]
    assert watched.toggle("Loss/val") is None
    assert watched.tags == ["Loss/train", "Loss/val"]
    refused = watched.toggle("lr")
    assert refused is not None and "lr" in refused and "do not share a scale" in refused
    assert watched.tags == ["Loss/train", "Loss/val"]  # not added
    assert watched.toggle("Loss/val") is None and watched.tags == ["Loss/train"]
    assert watched.toggle("Loss/train") is None and watched.tags == ["Loss/train"]  # the last stays
    watched.pick("lr")  # t: the lr alone
    assert watched.tags == ["lr"]


def test_scales_agree() -> None:
    assert scales_agree(0.5, 0.9) and scales_agree(None, 3.0) and scales_agree(0.0, 0.0)
    assert not scales_agree(0.5, 0.001) and not scales_agree(0.0, 1.0)
    assert scales_agree(100.0, 10.0)
