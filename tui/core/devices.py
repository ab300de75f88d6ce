"""Device names: the default choice and checks that a named device exists here.

One place for what the TUI (``--device``, the REPL's ``device``), ``dltui train`` and the
monitor's device field accept, so the three agree on wording and on what is available.
"""

from __future__ import annotations

import torch


def default_device() -> str:
    """cuda if available, else mps, else cpu."""
    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def device_problem(name: str) -> str | None:
    """Why ``name`` cannot be used on this machine, in plain words; None when it can."""
    try:
        dev = torch.device(name)
    except (RuntimeError, TypeError):
        return f"{name!r} is not a device name (cpu, cuda, cuda:1, mps)"
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            return f"{name!r}: CUDA is not available on this machine"
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            return f"{name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)"
    if dev.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            return f"{name!r}: MPS is not available on this machine"
    return None
