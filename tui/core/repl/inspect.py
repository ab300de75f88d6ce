"""Summaries of the REPL namespace for the inspector: cheap rows and costly statistics.

:func:`describe_namespace` lists tensors, Parameters, NumPy arrays and nn.Modules with
what is known without touching their data (shape, dtype, device, memory): it is cheap
and runs after every REPL submission. :func:`tensor_stats` reads every element (min, max,
mean, std, NaN/Inf/zero counts, a histogram): seconds for 10^8 floats on a CPU, so the
inspector calls it in a worker thread, and :class:`StatsCache` keeps the result until the
tensor changes (its version counter moves on every in-place write).
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, field
from typing import Any

from tui.core.text import number_text, shape_text

HIST_BINS = 30


@dataclass(frozen=True)
class VarInfo:
    """One inspector row: what a variable is, without reading its elements."""

    name: str
    kind: str  # "tensor" | "parameter" | "ndarray" | "module"
    shape: tuple[int, ...] | None
    dtype: str
    device: str
    grad: str  # "requires_grad", "grad_fn=AddBackward0", or ""
    numel: int
    nbytes: int
    storages: tuple[tuple[str, int, int], ...] = ()
    """(device, data pointer, bytes) of the memory it holds, so totals count each once."""

    @property
    def shape_text(self) -> str:
        return "" if self.shape is None else shape_text(self.shape)


@dataclass
class TensorStats:
    """Statistics of one tensor's elements (or a module's parameters)."""

    name: str
    lines: list[tuple[str, str]] = field(default_factory=list)
    """(label, value) pairs shown in the detail view."""
    preview: str = ""
    hist_edges: list[float] = field(default_factory=list)
    hist_counts: list[int] = field(default_factory=list)
    submodules: list[str] = field(default_factory=list)


def _dtype_name(dtype: Any) -> str:
    return str(dtype).replace("torch.", "")


def describe(name: str, obj: Any) -> VarInfo | None:
    """The inspector row for ``obj``, or None if it is not something we show."""
    import numpy as np
    import torch
    from torch import nn

    if isinstance(obj, torch.Tensor):
        kind = "parameter" if isinstance(obj, nn.Parameter) else "tensor"
        if obj.grad_fn is not None:
            grad = f"grad_fn={type(obj.grad_fn).__name__}"
        elif obj.requires_grad:
            grad = "requires_grad"
        else:
            grad = ""
        return VarInfo(
            name=name,
            kind=kind,
            shape=tuple(obj.shape),
            dtype=_dtype_name(obj.dtype),
            device=str(obj.device),
            grad=grad,
            numel=obj.numel(),
            nbytes=obj.numel() * obj.element_size(),
            storages=_tensor_storages(obj),
        )
    if isinstance(obj, np.ndarray):
        return VarInfo(
            name=name,
            kind="ndarray",
            shape=tuple(obj.shape),
            dtype=f"np.{obj.dtype}",
            device="numpy",
            grad="",
            numel=int(obj.size),
            nbytes=int(obj.nbytes),
            storages=_array_storages(obj),
        )
    if isinstance(obj, nn.Module):
        params = list(obj.parameters())
        devices = sorted({str(p.device) for p in params}) or ["-"]
        dtypes = sorted({_dtype_name(p.dtype) for p in params}) or ["-"]
        trainable = sum(p.numel() for p in params if p.requires_grad)
        return VarInfo(
            name=name,
            kind="module",
            shape=None,
            dtype=",".join(dtypes),
            device=",".join(devices),
            grad=f"{trainable:,} trainable" if params else "",
            numel=sum(p.numel() for p in params),
            nbytes=sum(p.numel() * p.element_size() for p in params),
            storages=tuple(s for t in [*params, *obj.buffers()] for s in _tensor_storages(t)),
        )
    return None


def _tensor_storages(t: Any) -> tuple[tuple[str, int, int], ...]:
    # The storage, not the view: `b = a`, `a.T` or `a[0]` hold no memory of their own.
    if t.is_sparse or t.device.type == "meta":
        return ()  # meta tensors hold no memory; sparse ones have no single storage
    try:
        storage = t.untyped_storage()
    except (RuntimeError, NotImplementedError):
        return ()
    return ((str(t.device), storage.data_ptr(), storage.nbytes()),)


def _array_storages(a: Any) -> tuple[tuple[str, int, int], ...]:
    import numpy as np

    owner = a
    while isinstance(owner.base, np.ndarray):
        owner = owner.base
    return (("numpy", owner.__array_interface__["data"][0], int(owner.nbytes)),)


def describe_namespace(namespace: dict[str, Any], names: list[str]) -> list[VarInfo]:
    """Rows for ``names`` that are tensors, arrays or modules, in the given order."""
    rows = []
    for name in names:
        obj = namespace.get(name)
        try:
            info = describe(name, obj)
        except (Exception, SystemExit, KeyboardInterrupt):
            # Some tensors refuse even .shape (a nested tensor raises), and an object
            # whose __class__ raises makes isinstance() raise: one odd variable must not
            # take the whole table, or the run's result, down with it.
            try:
                info = _opaque(name, obj)
            except (Exception, SystemExit, KeyboardInterrupt):
                info = None
        if info is not None:
            rows.append(info)
    return rows


def _opaque(name: str, obj: Any) -> VarInfo | None:
    """A row with what can be read without raising, for a tensor describe() fails on."""
    import torch

    if not isinstance(obj, torch.Tensor):
        return None
    try:
        dtype, device = _dtype_name(obj.dtype), str(obj.device)
    except Exception:
        dtype, device = "?", "?"
    return VarInfo(name, "tensor", None, dtype, device, "", 0, 0)


def memory_by_device(rows: list[VarInfo]) -> dict[str, int]:
    """Bytes held per device by the rows' tensors, arrays and module parameters.

    Each storage counts once, however many names or views share it (``b = a``, ``a.T``,
    a module's weight also bound to a name).
    """
    totals: dict[str, int] = {}
    seen: set[tuple[str, int]] = set()
    for row in rows:
        if not row.storages and row.kind != "module" and row.device != "meta":
            totals[row.device] = totals.get(row.device, 0) + row.nbytes
        for device, pointer, nbytes in row.storages:
            if (device, pointer) in seen:
                continue
            seen.add((device, pointer))
            totals[device] = totals.get(device, 0) + nbytes
    return totals


def cuda_memory(device: str | None = None) -> dict[str, int] | None:
    """Allocated / reserved bytes on ``device`` (``cuda:1``; the current CUDA device when
    None or not a CUDA device), or None without CUDA."""
    import torch

    if not torch.cuda.is_available():
        return None
    dev = torch.device(device) if device and device.startswith("cuda") else None
    return {
        "allocated": torch.cuda.memory_allocated(dev),
        "reserved": torch.cuda.memory_reserved(dev),
    }


def tensor_stats(name: str, obj: Any) -> TensorStats:
    """Read every element of a tensor or array (slow for big ones: call off the UI thread)."""
    import numpy as np
    import torch
    from torch import nn

    if isinstance(obj, nn.Module):
        return _module_stats(name, obj)
    t = torch.from_numpy(obj) if isinstance(obj, np.ndarray) else obj.detach()
    stats = TensorStats(name=name)
    stats.lines.append(("stride", str(tuple(t.stride()))))
    stats.lines.append(("contiguous", str(t.is_contiguous())))
    if t.device.type == "meta":
        stats.lines.append(("values", "none: a meta tensor holds no data"))
        return stats
    n = t.numel()
    if n == 0:
        stats.lines.append(("values", "empty"))
        return stats
    original = t  # the preview shows the values themselves, not their magnitudes
    if t.is_complex():
        stats.lines.append(("values", "complex: statistics of the magnitude"))
        t = t.abs()
    if t.dtype == torch.bool:
        true = int(t.sum().item())
        stats.lines += [("true", f"{true:,}"), ("false", f"{n - true:,}")]
        stats.preview = _preview(t)
        return stats
    # In chunks, so the temporaries (a float copy, masks) stay within a bound however
    # big the tensor is: 2-3x a whole GPU tensor could push a training run into OOM.
    flat = t.reshape(-1)
    s = _moments(flat)
    nan, inf, zeros = s["nan"], s["inf"], s["zeros"]
    if s["n"]:
        lo, hi = s["min"], s["max"]
        std = math.sqrt(s["m2"] / (s["n"] - 1)) if s["n"] > 1 else 0.0
        stats.lines += [
            ("min", number_text(lo, ".6g")),
            ("max", number_text(hi, ".6g")),
            ("mean", number_text(s["mean"], ".6g")),
            ("std", number_text(std, ".6g")),
        ]
        if hi > lo:
            counts = torch.zeros(HIST_BINS, dtype=torch.int64)
            for chunk in _finite_chunks(flat):
                part = torch.histc(chunk.float(), bins=HIST_BINS, min=lo, max=hi)
                counts += part.cpu().to(torch.int64)
            step = (hi - lo) / HIST_BINS
            stats.hist_edges = [lo + i * step for i in range(HIST_BINS + 1)]
            stats.hist_counts = [int(c) for c in counts.tolist()]
    stats.lines += [("NaN", f"{nan:,}"), ("Inf", f"{inf:,}"), ("zeros", f"{zeros:,}")]
    stats.preview = _preview(original)
    return stats


EDGE_ITEMS = 3  # values shown at each end of a long dimension
STATS_CHUNK = 1 << 22
"""Elements per chunk of the statistics: a few tens of MB of temporaries at most."""


def _chunk_float(chunk: Any) -> Any:
    import torch

    # float64 stays float64 (its precision); everything else is read as float32.
    return chunk if chunk.dtype == torch.float64 else chunk.float()


def _finite_chunks(flat: Any) -> Any:
    import torch

    for start in range(0, flat.numel(), STATS_CHUNK):
        c = _chunk_float(flat[start : start + STATS_CHUNK])
        if c.is_floating_point():
            c = c[torch.isfinite(c)]
        if c.numel():
            yield c


def _moments(flat: Any) -> dict[str, Any]:
    """Counts (NaN, Inf, zeros, finite) and min, max, mean and the sum of squared
    deviations of the finite values, merged chunk by chunk (Chan et al.'s pairwise
    update, so the mean and spread keep their precision)."""
    import torch

    out: dict[str, Any] = {"nan": 0, "inf": 0, "zeros": 0, "n": 0, "mean": 0.0, "m2": 0.0}
    out["min"], out["max"] = math.inf, -math.inf
    for start in range(0, flat.numel(), STATS_CHUNK):
        raw = flat[start : start + STATS_CHUNK]
        c = _chunk_float(raw)
        zeros = (raw == 0).sum()
        if c.is_floating_point():
            bad = ~torch.isfinite(c)
            nan = torch.isnan(c).sum()
            inf = bad.sum() - nan
            c = c[~bad]
        else:
            nan = inf = torch.zeros((), dtype=torch.int64, device=c.device)
        counts = torch.stack([zeros, nan, inf]).tolist()  # one read-back per chunk
        out["zeros"] += counts[0]
        out["nan"] += counts[1]
        out["inf"] += counts[2]
        n = c.numel()
        if not n:
            continue
        mean = c.mean()
        lo, hi, m, m2 = torch.stack([c.min(), c.max(), mean, ((c - mean) ** 2).sum()]).tolist()
        out["min"], out["max"] = min(out["min"], lo), max(out["max"], hi)
        total = out["n"] + n
        delta = m - out["mean"]
        out["mean"] += delta * n / total
        out["m2"] += m2 + delta * delta * out["n"] * n / total
        out["n"] = total
    return out


def _preview(t: Any) -> str:
    """The first values of ``t``, summarised like a REPL print (``...`` in long dims).

    Formatted by NumPy, whose options are arguments: torch's print options are global,
    so changing them here would also change (and race with) what the user's code prints
    in the REPL thread meanwhile, and ``torch.set_printoptions`` resets ``sci_mode``.
    """
    import numpy as np
    import torch

    t = t.detach()
    threshold = 50
    if t.numel() > threshold:
        # Only what is shown is copied to the host: per long dimension its first three
        # and last three entries and one between (so NumPy still marks the cut: "...").
        for dim, size in enumerate(t.shape):
            if size > 2 * EDGE_ITEMS:
                keep = [*range(EDGE_ITEMS), size // 2, *range(size - EDGE_ITEMS, size)]
                t = t.index_select(dim, torch.tensor(keep, device=t.device))
        threshold = 0  # the original was long: summarise as NumPy would have
    t = t.resolve_conj().resolve_neg()
    if t.device.type != "cpu":
        t = t.cpu()
    try:
        array = t.numpy()
    except (TypeError, RuntimeError):  # dtypes NumPy lacks: bfloat16, float8, complex32…
        if t.is_complex():
            wider = torch.complex64
        elif t.is_floating_point():
            wider = torch.float32
        else:
            wider = torch.int64
        array = t.to(wider).numpy()
    text = np.array2string(
        array,
        threshold=threshold,
        edgeitems=EDGE_ITEMS,
        precision=4,
        # One row a line, never wrapped by NumPy: a 2-D row of 7 shown values is ~62
        # columns, and a row broken in two read as two rows. The view cuts what is wider.
        max_line_width=200,
        separator=", ",
    )
    lines = text.splitlines()
    return "\n".join(lines[:12]) + ("\n…" if len(lines) > 12 else "")


def _module_stats(name: str, module: Any) -> TensorStats:
    params = list(module.parameters())
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    buffers = sum(b.numel() for b in module.buffers())
    stats = TensorStats(name=name)
    stats.lines += [
        ("type", type(module).__name__),
        ("params", f"{total:,}"),
        ("trainable", f"{trainable:,}"),
        ("buffers", f"{buffers:,}"),
        ("mode", "train" if module.training else "eval"),
    ]
    for child_name, child in module.named_children():
        count = sum(p.numel() for p in child.parameters())
        stats.submodules.append(f"({child_name}) {child!r}  [{count:,} params]".replace("\n", " "))
    return stats


class StatsCache:
    """Statistics per variable name, valid while the object and its version are unchanged."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[Any, ...] | None, TensorStats]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def key(obj: Any) -> tuple[Any, ...] | None:
        """Identity plus in-place version: ``x += 1`` or ``x[0] = 5`` moves ``_version``."""
        import torch

        try:
            if isinstance(obj, torch.Tensor):
                pointer = obj.data_ptr() if obj.device.type != "meta" else 0
                return (id(obj), obj._version, pointer)
            if isinstance(obj, torch.nn.Module):
                return (id(obj), tuple(p._version for p in obj.parameters()))
        except Exception:
            return None  # a tensor without a plain storage (nested, some sparse): not cached
        # NumPy arrays have no version counter: never cached.
        return None

    def get(self, name: str, obj: Any) -> TensorStats | None:
        with self._lock:
            entry = self._entries.get(name)
        if entry is not None and entry[0] is not None and entry[0] == self.key(obj):
            return entry[1]
        return None

    def compute(self, name: str, obj: Any) -> TensorStats:
        """Cached statistics, computing them when missing or stale."""
        cached = self.get(name, obj)
        if cached is not None:
            return cached
        key = self.key(obj)
        stats = tensor_stats(name, obj)
        with self._lock:
            self._entries[name] = (key, stats)
        return stats

    def forget(self, keep: set[str]) -> None:
        with self._lock:
            for name in list(self._entries):
                if name not in keep:
                    del self._entries[name]
