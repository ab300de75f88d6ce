"""Exponential moving averages of metric values, TensorBoard's debiased kind.

:func:`ema` smooths a whole series at once (vectorised in blocks); :class:`EmaState` is
the same recurrence one value at a time, and :func:`ema_continued` carries an
:class:`EmaState` over a whole array at once, so a monitor that receives 10^5 points of
a TensorBoard log in one poll smooths them in milliseconds, not in a Python loop.
NumPy only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

__all__ = ["EmaState", "ema", "ema_continued"]


def ema(values: Iterable[float] | np.ndarray, smoothing: float) -> np.ndarray:
    """TensorBoard's debiased exponential moving average of ``values``.

    The same result as TensorBoard's scalar dashboard for the same ``smoothing`` weight
    (0 = no smoothing, 0.99 = very smooth)::

        last = last * w + (1 - w) * v;  num_accum += 1
        smoothed = last / (1 - w ** num_accum)

    Like TensorBoard, a non-finite value (NaN, +-Inf) is passed through unsmoothed and
    does not enter the average, and a constant series is returned unchanged (so that
    rounding cannot make a flat line wobble).

    The recurrence is evaluated in blocks with one matrix product, so 10^6 points take
    milliseconds rather than the ~0.5 s of a Python loop.
    """
    w = float(smoothing)
    if not 0.0 <= w <= 1.0:
        raise ValueError(f"smoothing must be between 0 and 1, not {smoothing!r}")
    v = np.asarray(values, dtype=np.float64).ravel()
    out = v.copy()
    if v.size == 0 or np.all(v == v[0]):
        return out
    finite = np.isfinite(v)
    f = v[finite]
    if f.size == 0:
        return out
    raw = _ema_undebiased(f, w)
    if w != 1.0:
        # The undebiased average starts from 0; dividing by 1 - w**k removes that bias.
        k = np.arange(1, f.size + 1, dtype=np.float64)
        with np.errstate(divide="ignore", invalid="ignore"):
            raw = raw / (1.0 - np.power(w, k))
    out[finite] = raw
    return out


_EMA_BLOCK = 256


def _ema_undebiased(v: np.ndarray, w: float) -> np.ndarray:
    """``last_i = w * last_{i-1} + (1 - w) * v_i`` with ``last_{-1} = 0``, vectorised.

    Within a block of B values, ``last = (1-w) * T @ v + w**(i+1) * carry`` where
    ``T[i, j] = w**(i-j)`` for ``j <= i``; only the carry runs through a Python loop, once
    per block. Powers that underflow become 0, which is also the exact limit.
    """
    n = v.size
    b = min(_EMA_BLOCK, n)
    blocks = -(-n // b)
    padded = np.zeros(blocks * b)
    padded[:n] = v
    idx = np.arange(b)
    diff = idx[:, None] - idx[None, :]
    with np.errstate(under="ignore"):
        tri = np.where(diff >= 0, np.power(w, np.maximum(diff, 0)), 0.0)
        decay = np.power(w, idx + 1.0)  # weight of the carry at each position
    local = (1.0 - w) * (padded.reshape(blocks, b) @ tri.T)
    carry = 0.0
    for i in range(blocks):
        local[i] += decay * carry
        carry = local[i, -1]
    return local.ravel()[:n]


class EmaState:
    """Incremental form of :func:`ema` (one value at a time, O(1) each)."""

    __slots__ = ("last", "num_accum", "w")

    def __init__(self, w: float) -> None:
        self.w = w
        self.last = 0.0
        self.num_accum = 0

    def update(self, v: float) -> float:
        if not math.isfinite(v):
            return v
        self.last = self.last * self.w + (1.0 - self.w) * v
        self.num_accum += 1
        if self.w == 1.0:
            return self.last
        return self.last / (1.0 - self.w**self.num_accum)


def ema_continued(values: np.ndarray, state: EmaState) -> np.ndarray:
    """The smoothed ``values`` as :meth:`EmaState.update` would give them one by one,
    vectorised; ``state`` is advanced past them."""
    v = np.asarray(values, dtype=np.float64).ravel()
    out = v.copy()
    finite = np.isfinite(v)
    f = v[finite]
    if f.size == 0:
        return out
    w = state.w
    k = np.arange(1, f.size + 1, dtype=np.float64)
    with np.errstate(under="ignore"):
        raw = _ema_undebiased(f, w) + np.power(w, k) * state.last
    state.last = float(raw[-1])
    n0 = state.num_accum
    state.num_accum += int(f.size)
    if w == 1.0:
        out[finite] = raw
        return out
    with np.errstate(divide="ignore", invalid="ignore", under="ignore"):
        out[finite] = raw / (1.0 - np.power(w, n0 + k))
    return out
