"""Trainer threads and interpreter exit: every started trainer is stopped and joined first.

The trainer's thread is a daemon (a UI must be able to quit), but a daemon thread still
inside torch while the interpreter finalizes aborts the process ("terminate called
without an active exception", exit 134), and its run keeps "running" in status.json.
So every trainer registers here when it starts, and an :mod:`atexit` hook, which runs
after the main thread is done and before finalization, while daemon threads still run,
stops and joins them: their runs end "stopped", with the last checkpoint written.
"""

from __future__ import annotations

import atexit
import os
import sys
import time
import weakref
from typing import Protocol

__all__ = ["EXIT_JOIN_S", "register", "stop_all_trainers"]

# How long the exit hook waits for running trainers to stop (a step, a validation batch
# or a checkpoint write must finish first).
EXIT_JOIN_S = 30.0


class _Stoppable(Protocol):
    @property
    def is_alive(self) -> bool: ...

    def stop(self) -> None: ...

    def join(self, timeout: float | None = None) -> bool: ...


_LIVE: weakref.WeakSet[_Stoppable] = weakref.WeakSet()


def register(trainer: _Stoppable) -> None:
    """Have ``trainer`` stopped and joined at exit (called by ``Trainer.start``)."""
    _LIVE.add(trainer)


def stop_all_trainers(timeout: float = EXIT_JOIN_S) -> bool:
    """Stop every started trainer of this process and join its thread (at most
    ``timeout`` seconds in all); True when none is left running."""
    live = [t for t in list(_LIVE) if t.is_alive]
    for t in live:
        t.stop()
    deadline = time.monotonic() + timeout
    for t in live:
        t.join(max(0.0, deadline - time.monotonic()))
    return not any(t.is_alive for t in live)


def _stop_at_exit() -> None:
    # A thread that will not stop in time: leave with os._exit, which skips the
    # finalization that would abort on it.
    if not stop_all_trainers():
        try:
            sys.stderr.write("dltui: the training thread did not stop in time; exiting now\n")
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(1)


atexit.register(_stop_at_exit)
