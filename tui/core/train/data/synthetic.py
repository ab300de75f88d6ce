"""The built-in synthetic sets, generated locally from a seeded ``torch.Generator``.

``spirals``, ``moons``, ``circles``, ``xor`` (classification, 2-D points) and ``sine``,
``linear`` (regression), with options after a colon: ``spirals:n=2000,noise=0.2,seed=1``.
Nothing is downloaded; the same options give the same samples on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from tui.core.train.data.bundle import DataBundle, DataError, bundle_from_tensors, parse_options

__all__ = ["SYNTHETIC", "load_synthetic"]


@dataclass(frozen=True)
class _Synthetic:
    make: Callable[..., tuple[torch.Tensor, torch.Tensor]]
    task: str
    options: dict[str, Any]  # name -> default; the type of the default is the option's type
    help: str


def _spirals(n: int, noise: float, seed: int, classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    xs, ys = [], []
    for k in range(classes):
        m = n // classes + (1 if k < n % classes else 0)
        t = torch.rand(m, generator=g)
        r = 0.05 + 0.95 * t
        # 1.5 turns per arm: hard enough to need a hidden layer, easy enough for ~30 epochs.
        theta = 2 * math.pi * k / classes + 3 * math.pi * t
        pts = torch.stack([r * torch.cos(theta), r * torch.sin(theta)], dim=1)
        xs.append(pts + noise * torch.randn(m, 2, generator=g))
        ys.append(torch.full((m,), k, dtype=torch.int64))
    return _shuffle(torch.cat(xs), torch.cat(ys), g)


def _moons(n: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    m_out = n // 2
    m_in = n - m_out
    t_out = torch.rand(m_out, generator=g) * math.pi
    t_in = torch.rand(m_in, generator=g) * math.pi
    outer = torch.stack([torch.cos(t_out), torch.sin(t_out)], dim=1)
    inner = torch.stack([1 - torch.cos(t_in), 0.5 - torch.sin(t_in)], dim=1)
    x = torch.cat([outer, inner]) + noise * torch.randn(n, 2, generator=g)
    y = torch.cat([torch.zeros(m_out, dtype=torch.int64), torch.ones(m_in, dtype=torch.int64)])
    return _shuffle(x, y, g)


def _circles(n: int, noise: float, seed: int, factor: float) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    m_out = n // 2
    m_in = n - m_out
    t = torch.rand(n, generator=g) * 2 * math.pi
    r = torch.cat([torch.ones(m_out), torch.full((m_in,), factor)])
    x = torch.stack([r * torch.cos(t), r * torch.sin(t)], dim=1)
    x = x + noise * torch.randn(n, 2, generator=g)
    y = torch.cat([torch.zeros(m_out, dtype=torch.int64), torch.ones(m_in, dtype=torch.int64)])
    return _shuffle(x, y, g)


def _xor(n: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, 2, generator=g) * 2 - 1
    y = ((x[:, 0] > 0) ^ (x[:, 1] > 0)).to(torch.int64)
    return x + noise * torch.randn(n, 2, generator=g), y


def _sine(n: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = (torch.rand(n, 1, generator=g) * 2 - 1) * math.pi
    return x, torch.sin(x) + noise * torch.randn(n, 1, generator=g)


def _linear(n: int, noise: float, seed: int, features: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, features, generator=g)
    w = torch.randn(features, 1, generator=g)
    b = torch.randn(1, generator=g)
    return x, x @ w + b + noise * torch.randn(n, 1, generator=g)


def _shuffle(
    x: torch.Tensor, y: torch.Tensor, g: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    # Classes are generated one after another; mix them so any prefix is representative.
    perm = torch.randperm(x.shape[0], generator=g)
    return x[perm], y[perm]


SYNTHETIC: dict[str, _Synthetic] = {
    "spirals": _Synthetic(
        _spirals,
        "classification",
        {"n": 1000, "noise": 0.05, "seed": 0, "classes": 2},
        "interleaved spiral arms, one class per arm",
    ),
    "moons": _Synthetic(
        _moons,
        "classification",
        {"n": 1000, "noise": 0.1, "seed": 0},
        "two interleaved half circles",
    ),
    "circles": _Synthetic(
        _circles,
        "classification",
        {"n": 1000, "noise": 0.05, "seed": 0, "factor": 0.5},
        "a circle inside another",
    ),
    "xor": _Synthetic(
        _xor, "classification", {"n": 1000, "noise": 0.0, "seed": 0}, "quadrants of the XOR"
    ),
    "sine": _Synthetic(_sine, "regression", {"n": 1000, "noise": 0.05, "seed": 0}, "y = sin(x)"),
    "linear": _Synthetic(
        _linear,
        "regression",
        {"n": 1000, "noise": 0.1, "seed": 0, "features": 1},
        "y = x @ w + b",
    ),
}
"""The built-in synthetic sets: name -> generator, task, options with their defaults."""


def _convert_options(name: str, given: dict[str, str], defaults: dict[str, Any]) -> dict[str, Any]:
    valid = ", ".join(defaults)
    out = dict(defaults)
    for key, raw in given.items():
        if key not in defaults:
            raise DataError(f"unknown option {key!r} for {name}: valid options are {valid}")
        kind = type(defaults[key])
        try:
            value = kind(raw) if kind is not int else int(raw, 10)
        except ValueError:
            noun = "an integer" if kind is int else "a number"
            shown = raw if len(raw) <= 24 else raw[:20] + "…"
            raise DataError(f"option {key}={shown} for {name} must be {noun}") from None
        out[key] = value
    return out


# Bounds on what a synthetic set may generate: ten million samples of 2 features is
# 80 MB; 10^10 (a typo's worth of zeros) would be terabytes and end in a crash.
MAX_SAMPLES = 10**7
MAX_VALUES = 10**8  # samples x features, for linear's features
MAX_CLASSES = 1000  # spirals generates one arm per class in a Python loop
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed's range


def load_synthetic(name: str, option_text: str, source: str) -> DataBundle:
    spec = SYNTHETIC[name]
    opts = _convert_options(name, parse_options(option_text, name), spec.options)
    n = opts["n"]
    if n < 2:
        raise DataError(f"option n={n} for {name} must be at least 2")
    if n > MAX_SAMPLES:
        raise DataError(
            f"option n={n} for {name} must be at most {MAX_SAMPLES:,} (10^7): "
            "a synthetic set that large is generated in memory"
        )
    if not (math.isfinite(opts["noise"]) and opts["noise"] >= 0):
        raise DataError(f"option noise={opts['noise']} for {name} must be 0 or more")
    if not 0 <= opts["seed"] <= MAX_SEED:
        raise DataError(f"option seed={opts['seed']} for {name} must be between 0 and 2^63-1")
    if "classes" in opts and not 2 <= opts["classes"] <= min(n, MAX_CLASSES):
        raise DataError(
            f"option classes={opts['classes']} for {name} must be between 2 and "
            f"{min(n, MAX_CLASSES)} (n, at most {MAX_CLASSES})"
        )
    if "features" in opts and not 1 <= opts["features"] <= MAX_VALUES // n:
        raise DataError(
            f"option features={opts['features']} for {name} must be between 1 and "
            f"{MAX_VALUES // n:,} (n x features at most {MAX_VALUES:,})"
        )
    if "factor" in opts and not (math.isfinite(opts["factor"]) and opts["factor"] > 0):
        raise DataError(f"option factor={opts['factor']} for {name} must be a number above 0")
    x, y = spec.make(**opts)
    shown = ",".join(f"{k}={v}" for k, v in opts.items())
    desc = f"{name} ({shown}): {spec.help}"
    return bundle_from_tensors(x, y, spec.task, desc, source)
