"""Will a stack's parameters fit on a device? Answered before any real allocation.

Shape propagation (:mod:`tui.core.builder.propagate`) counts the parameters on the meta
device for free; :func:`check_fits` compares their bytes with the memory the target
device has free and refuses with one line (a :class:`ModelTooLarge`) when they cannot
fit. Without the check, ``Linear(2, 10**10)`` asks the allocator for 80 GB: the process
is killed, or swaps the machine to a halt, or torch raises deep inside ``__init__``.

Free memory: for the CPU the smallest of MemAvailable (``/proc/meminfo``, else
``os.sysconf``), the cgroup v2 limit left (a container) and the address space left under
``ulimit -v``; for CUDA ``torch.cuda.mem_get_info``. Where none is known (MPS, an
unusual system) the check passes: a guess would refuse models that fit.
"""

from __future__ import annotations

import math
import os
import resource
from pathlib import Path

import torch

from tui.core.builder.propagate import RowResult, propagate
from tui.core.builder.spec import LayerStack, SpecError
from tui.core.text import human_bytes

__all__ = ["ModelTooLarge", "check_fits", "free_bytes", "parameter_bytes"]


class ModelTooLarge(SpecError):
    """The stack's parameters need more memory than the device has free."""


def parameter_bytes(rows: list[RowResult]) -> int:
    """Bytes of the parameters of propagated rows, in torch's default float dtype."""
    item = torch.empty((), dtype=torch.get_default_dtype()).element_size()
    return sum(r.params_total for r in rows) * item


def free_bytes(device: str | torch.device) -> int | None:
    """Memory free for new tensors on ``device``, in bytes; None when unknown."""
    dev = torch.device(device)
    if dev.type == "cuda":
        try:
            free, _total = torch.cuda.mem_get_info(dev)
        except (RuntimeError, AssertionError, ValueError):  # no CUDA, or a bad index
            return None
        return int(free)
    if dev.type != "cpu":
        return None
    known = [b for b in (_mem_available(), _cgroup_left(), _address_space_left()) if b is not None]
    return min(known) if known else None


def _mem_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def _cgroup_left() -> int | None:
    """What a cgroup v2 memory limit (a container's) leaves; None without one."""
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return max(0, int(limit) - int((root / "memory.current").read_text()))
    except (OSError, ValueError):
        return None


def _address_space_left() -> int | None:
    """What ``ulimit -v`` leaves of the address space; None when unlimited."""
    try:
        soft, _hard = resource.getrlimit(resource.RLIMIT_AS)
        if soft == resource.RLIM_INFINITY:
            return None
        pages = int(Path("/proc/self/statm").read_text().split()[0])
        return max(0, soft - pages * os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, IndexError, AttributeError):
        return None


def check_fits(
    stack: LayerStack, device: str | torch.device = "cpu", rows: list[RowResult] | None = None
) -> None:
    """Refuse a stack whose parameters cannot fit in the memory free on ``device``.

    ``rows`` is the stack's propagation when the caller has it (else it is computed).
    Gradients and optimizer state need as much again or more: passing this check says
    the model can be built, not that it will train.

    Raises:
        ModelTooLarge: one line saying how much is needed, how much is free, and which
            row's argument to make smaller.
    """
    if rows is None:
        rows = propagate(stack)
    need = parameter_bytes(rows)
    if need == 0:
        return
    free = free_bytes(device)
    if free is None or need <= free:
        return
    raise ModelTooLarge(
        "",
        f"the model needs {human_bytes(need)} for its parameters, more than the "
        f"{human_bytes(free)} free on {torch.device(device)}: {_hint(stack, rows)}",
    )


def _hint(stack: LayerStack, rows: list[RowResult]) -> str:
    """``make layers[0] (Linear) out_features smaller``: the biggest row's biggest size."""
    big = max(rows, key=lambda r: r.params_total)
    layer = stack.layers[big.index]
    sizes = {k: v for k, v in layer.args.items() if isinstance(v, int) and not isinstance(v, bool)}
    if not sizes:
        return f"make layers[{big.index}] ({big.type}) smaller"
    name = max(sizes, key=lambda k: sizes[k])
    share = big.params_total / max(1, sum(r.params_total for r in rows))
    most = "" if math.isclose(share, 1.0) else f" (it holds {100 * share:.0f}% of them)"
    return f"make layers[{big.index}].{name} ({big.type}) smaller{most}"
