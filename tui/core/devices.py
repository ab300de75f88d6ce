"""Device names: the default choice and checks that a named device is usable here.

One place for what the TUI (``--device``, the REPL's ``device``), ``dltui train`` and the
monitor's device field accept, so the three agree on wording and on what is available.

``torch.cuda.is_available()`` alone is not enough: it says True on a box whose GPU is
busy in exclusive mode, whose driver is too old for this build, or whose build has no
kernels for the card. So a device is *probed* (one small allocation and one kernel) the
first time it is chosen; the probe runs in a worker thread (it costs a CUDA context,
around a second), and its result is remembered for the process.
"""

from __future__ import annotations

import functools
import warnings

import torch

from tui.core.text import first_line


def _is_available(check: object) -> tuple[bool, str | None]:
    """Call an ``is_available`` function, keeping the warning torch raises as the reason."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ok = bool(check())  # type: ignore[operator]
        except Exception as exc:  # a broken driver can raise instead of warning
            return False, first_line(exc)
    reason = next((first_line(w.message) for w in caught if isinstance(w.message, Warning)), None)
    return ok, reason


@functools.lru_cache(maxsize=16)
def probe(name: str) -> str | None:
    """Why the device ``name`` cannot run a kernel, in plain words; None when it can."""
    try:
        x = torch.ones(8, device=name)
        value = float((x * 2).sum().cpu())
    except Exception as exc:  # OOM, busy device, "no kernel image", driver errors
        return f"{name!r} is present but unusable: {first_line(exc)}"
    if value != 16.0:
        return f"{name!r} computed a wrong result in a self-test ({value} instead of 16)"
    return None


def _mps_backend() -> object | None:
    return getattr(torch.backends, "mps", None)


def choose_default() -> tuple[str, list[str]]:
    """The default device (cuda, else mps, else cpu) and why any better one was passed over.

    Each candidate is probed; the reasons are plain words to show the user once.
    """
    skipped: list[str] = []
    ok, reason = _is_available(torch.cuda.is_available)
    if ok:
        problem = probe("cuda")
        if problem is None:
            return "cuda", skipped
        skipped.append(problem)
    elif reason:
        skipped.append(f"CUDA not used: {reason}")
    mps = _mps_backend()
    if mps is not None:
        ok, reason = _is_available(mps.is_available)  # type: ignore[attr-defined]
        if ok:
            problem = probe("mps")
            if problem is None:
                return "mps", skipped
            skipped.append(problem)
    return "cpu", skipped


def default_device() -> str:
    """cuda if usable, else mps, else cpu (see ``choose_default`` for the reasons)."""
    return choose_default()[0]


def device_problem(name: str) -> str | None:
    """Why ``name`` cannot be used on this machine, in plain words; None when it can."""
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        return f"{name!r} is not a device name (cpu, cuda, cuda:1, mps)"
    if dev.type == "cuda":
        ok, reason = _is_available(torch.cuda.is_available)
        if not ok:
            why = f" ({reason})" if reason else ""
            return f"{name!r}: CUDA is not available on this machine{why}"
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            return f"{name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
        return probe(str(dev))
    if dev.type == "mps":
        mps = _mps_backend()
        if mps is None or not _is_available(mps.is_available)[0]:  # type: ignore[attr-defined]
            return f"{name!r}: MPS is not available on this machine"
        return probe(str(dev))
    if dev.type not in ("cpu", "meta"):
        return f"{name!r}: dltui trains on cpu, cuda or mps"
    return None
