"""One thread for every REPL submission, so per-thread state holds from one to the next.

PyTorch keeps some state per thread: grad mode (``torch.set_grad_enabled(False)``),
autocast, ``torch.cuda.set_device`` and the current stream, ``torch.set_default_device``
(a function mode, thread-local). On a shared pool each submission could land on another
thread and find that state gone. :class:`ReplThread` runs every job it is given, in
order, on one thread of its own.

The thread is a daemon: user code that never returns (``while True: pass`` that no
ctrl+c reached) must not keep the app from quitting. A job's exception, a
``KeyboardInterrupt`` or ``SystemExit`` included, goes into its future; an interrupt
that lands between two jobs is dropped, and the thread goes on.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from typing import Any, TypeVar

__all__ = ["ReplThread"]

T = TypeVar("T")


_STOP = object()


class ReplThread:
    """Runs submitted callables one after another on a single daemon thread."""

    def __init__(self, name: str = "dltui-repl") -> None:
        self.name = name
        # A job leaves the queue only once its future is done (see _loop).
        self._jobs: deque[Any] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    @property
    def ident(self) -> int | None:
        """The thread's id once started (what an interrupt is raised in)."""
        return self._thread.ident if self._thread is not None else None

    def submit(self, fn: Callable[[], T]) -> Future[T]:
        """Queue ``fn`` to run on the REPL thread; its result or exception in the future."""
        future: Future[T] = Future()
        with self._cond:
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self._thread.start()
            self._jobs.append((future, fn))
            self._cond.notify()
        return future

    def close(self) -> None:
        """Let the thread end once the jobs queued so far have run."""
        with self._cond:
            self._jobs.append(_STOP)
            self._cond.notify()

    def _loop(self) -> None:
        # An asynchronous exception (an interrupt aimed at user code) can land at any
        # bytecode here, also right after a job was taken: so the job stays at the head
        # of the queue until its future is done, and none is lost or run twice.
        while True:
            try:
                with self._cond:
                    while not self._jobs:
                        self._cond.wait()
                    job = self._jobs[0]
                if job is _STOP:
                    return
                future, fn = job
                if not future.done() and (
                    future.running() or future.set_running_or_notify_cancel()
                ):
                    try:
                        result = fn()
                    except BaseException as exc:
                        future.set_exception(exc)
                    else:
                        future.set_result(result)
                self._pop(job)
            except BaseException as exc:
                self._landed(exc)

    def _pop(self, job: Any) -> None:
        with self._cond:
            if self._jobs and self._jobs[0] is job:
                self._jobs.popleft()

    def _landed(self, exc: BaseException) -> None:
        """An exception landed outside a job's code: give it to the job it was meant for
        (one that has started), or drop it (between jobs)."""
        with self._cond:
            job = self._jobs[0] if self._jobs else None
        if job is None or job is _STOP:
            return
        future = job[0]
        if future.running():
            with contextlib.suppress(InvalidStateError):
                future.set_exception(exc)
        if future.done():
            self._pop(job)
        # else the job had not started: it runs on the next turn.
