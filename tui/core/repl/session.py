"""The REPL session: a Python namespace preloaded for PyTorch, and evaluation of code in it.

A :class:`Session` is driven from a worker thread (never the UI thread): ``load()``
imports torch and fills the namespace, ``run(source)`` executes one submission the way
Python's interactive REPL would (the value of a final expression is shown and bound to
``_``), capturing what it prints into a bounded buffer and turning exceptions into
tracebacks that show the user's lines only. ``interrupt()`` may be called from any thread
and raises ``KeyboardInterrupt`` inside the running code; the namespace survives it.

Everything that can run user code stays inside the interruptible part of ``run``: the
code itself, then the repr of its value and the formatting of its exception (a
``__repr__`` or ``__str__`` can loop too). ``time.sleep`` in that thread ends at an
interrupt as well (:mod:`tui.core.repl.interrupt`).
"""

from __future__ import annotations

import ast
import linecache
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tui.core.repl import interrupt as interruption
from tui.core.repl.capture import CAPTURE
from tui.core.repl.formatting import (
    ERROR_LIMIT,
    bounded_repr,
    exception_message,
    summarised_note,
    syntax_error_text,
    too_deep_text,
    user_traceback,
)
from tui.core.repl.magics import MagicHint
from tui.core.repl.magics import parse as parse_magic
from tui.core.repl.output import BoundedText, RoutedStream, visible_text
from tui.core.repl.thread import ReplThread

PRELOADED = ("torch", "nn", "F", "optim", "np", "Dataset", "DataLoader", "TensorDataset")
"""Names every fresh namespace holds, besides ``device``."""

# Code the user runs is compiled under this filename prefix: the traceback filter keeps
# frames whose file starts with it, and linecache serves their source lines.
REPL_FILENAME = "<repl-{n}>"

OUTPUT_LIMIT = 20_000
"""Characters of output kept per submission; the rest is counted and noted."""


def default_device_name(requested: str | None) -> str:
    """The device to bind as ``device``: the requested one, else cuda, mps, cpu.

    Raises:
        RuntimeError: the requested device does not exist here (message in plain words).
    """
    from tui.core.devices import default_device, device_problem

    if requested:
        problem = device_problem(requested)
        if problem is not None:
            raise RuntimeError(problem)
        return requested
    return default_device()


@dataclass
class RunResult:
    """What one submission produced, ready to render (no tensors inside)."""

    source: str
    output: str = ""
    """Captured stdout and stderr, bounded."""
    value_repr: str | None = None
    """repr of the final expression's value, bounded; None when there was none."""
    error: str | None = None
    """The traceback, user frames only."""
    explanation: str | None = None
    """A plain-words line about a common PyTorch error."""
    interrupted: bool = False
    truncated_note: str | None = None
    elapsed: float = 0.0
    changed: bool = True


@dataclass
class SessionInfo:
    """Facts about the loaded session, for the status line."""

    torch_version: str
    device: str
    cuda_available: bool
    device_error: str | None = None


class Session:
    """A PyTorch REPL namespace and the evaluation of code in it."""

    def __init__(self, device: str | None = None) -> None:
        self.requested_device = device
        self.namespace: dict[str, Any] = {}
        self.info: SessionInfo | None = None
        self._counter = 0
        self._lock = threading.Lock()
        # Notified whenever code starts or stops running (see wait_until_running/idle).
        self._changed = threading.Condition(self._lock)
        self._running_thread: int | None = None
        # Where the UI runs every submission (tui.core.repl.thread).
        self.thread = ReplThread()
        self._explain: Callable[[BaseException, str], str | None] | None = None
        # The folder dltui was started in, importable as in Python's own REPL (the
        # console script puts its bin folder first on sys.path, not this one). Absolute,
        # so an os.chdir in the REPL does not move it.
        self.start_folder = os.getcwd()

    @property
    def loaded(self) -> bool:
        return self.info is not None

    @property
    def running(self) -> bool:
        return self._running_thread is not None

    def load(self) -> SessionInfo:
        """Import torch (slow: ~1.5 s) and fill the namespace. Call from a worker thread."""
        if self.start_folder not in sys.path:
            sys.path.insert(0, self.start_folder)
        import torch

        from tui.core.repl.explain import explain

        self._explain = explain
        error = None
        try:
            if self.requested_device:
                name = default_device_name(self.requested_device)
            else:
                # Probed, so a GPU that is present but unusable is passed over, with why.
                from tui.core.devices import choose_default

                name, skipped = choose_default()
                error = "; ".join(skipped) or None
        except RuntimeError as exc:
            error = (
                f"--device {self.requested_device!r} is not a device torch knows ({exc}); using cpu"
            )
            name = "cpu"
        self.info = SessionInfo(
            torch_version=torch.__version__,
            device=name,
            cuda_available=torch.cuda.is_available(),
            device_error=error,
        )
        self.reset()
        return self.info

    def reset(self) -> None:
        """Forget every user variable; keep the preloaded names."""
        import numpy as np
        import torch
        import torch.nn.functional as F
        from torch import nn, optim
        from torch.utils.data import DataLoader, Dataset, TensorDataset

        assert self.info is not None, "load() first"
        self.namespace.clear()
        self.namespace.update(
            {
                "__name__": "__main__",
                "__builtins__": _repl_builtins(),
                "torch": torch,
                "nn": nn,
                "F": F,
                "optim": optim,
                "np": np,
                "Dataset": Dataset,
                "DataLoader": DataLoader,
                "TensorDataset": TensorDataset,
                "device": torch.device(self.info.device),
            }
        )

    def user_names(self) -> list[str]:
        """Names the user defined (preloaded ones and dunders left out)."""
        # list() first: another thread (a run, a hand-off) may add names meanwhile, and
        # globals()[1] = 2 puts a key that is not a str in the namespace.
        return [
            k
            for k in list(self.namespace)
            if isinstance(k, str)
            and not k.startswith("__")
            and k not in PRELOADED
            and k != "device"
        ]

    def background_output(self) -> tuple[str, str | None]:
        """(text, truncation note) printed since the last call by no submission.

        Threads the user started, child processes and fd writes between submissions
        write there while the app captures output (``tui.core.repl.capture``).
        """
        text, note = CAPTURE.background.take()
        return visible_text(text), note

    def wait_until_running(self, timeout: float | None = None) -> bool:
        """Block until some code runs (from another thread); False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._running_thread is not None, timeout)

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Block until no code runs; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._running_thread is None, timeout)

    def interrupt(self) -> bool:
        """Raise KeyboardInterrupt in the running code; False when nothing runs.

        The exception lands at the thread's next bytecode boundary, so a long C call
        (a big matmul) finishes first.
        """
        with self._lock:
            ident = self._running_thread
            if ident is None:
                return False
            interruption.raise_in_thread(ident, KeyboardInterrupt)
            return True

    def run(self, source: str) -> RunResult:
        """Execute ``source`` in the namespace; call from a worker thread."""
        result = RunResult(source=source)
        started = time.perf_counter()
        self._counter += 1
        filename = REPL_FILENAME.format(n=self._counter)
        # Register the source so tracebacks can show the user's lines.
        linecache.cache[filename] = (
            len(source),
            None,
            [line + "\n" for line in source.split("\n")],
            filename,
        )
        buffer = BoundedText(OUTPUT_LIMIT)
        interruption.install_interruptible_sleep()
        RoutedStream.install()
        RoutedStream.route_current_thread(buffer)
        try:
            with CAPTURE.submission(buffer):
                summary_note = self._run_interruptibly(source, filename, result)
        finally:
            RoutedStream.unroute_current_thread()
        result.output = visible_text(buffer.text())
        if result.value_repr is not None:
            result.value_repr = visible_text(result.value_repr)
        if result.error is not None:
            result.error = visible_text(result.error)
        notes = [n for n in (buffer.note(), summary_note) if n]
        result.truncated_note = "\n".join(notes) if notes else None
        result.elapsed = time.perf_counter() - started
        return result

    def _run_interruptibly(self, source: str, filename: str, result: RunResult) -> str | None:
        """Run, then format the value or the error, all of it open to ``interrupt()``.

        Returns the note about a summarised tensor, if any.
        """
        summary_note = None
        try:
            self._set_running()
            try:
                value = self._exec(source, filename)
                if value is not None:
                    self.namespace["_"] = value
                    result.value_repr = bounded_repr(value, OUTPUT_LIMIT)
                    summary_note = summarised_note(value)
            except KeyboardInterrupt:
                result.interrupted = True
                result.error = "KeyboardInterrupt"
            except _TooDeep as exc:
                result.error = too_deep_text(exc.cause)
            except MagicHint as exc:
                result.error = str(exc)
            except SyntaxError as exc:
                result.error = syntax_error_text(exc)
            except BaseException as exc:  # user code may raise anything, SystemExit too
                # str(exc) first, where ctrl+c reaches a __str__ that loops (the traceback
                # module's own call swallows KeyboardInterrupt, and would loop on).
                message = exception_message(exc)
                result.error = user_traceback(exc, ERROR_LIMIT)
                if self._explain is not None:
                    try:
                        result.explanation = self._explain(exc, message)
                    except Exception:  # an explanation must never hide the error
                        result.explanation = None
            finally:
                self._set_idle()
        except KeyboardInterrupt:
            # ctrl+c while the value or the error was being formatted (a __repr__ that
            # loops), or just as the code returned.
            self._set_idle()
            result.interrupted = True
            if result.error is None or result.error == "KeyboardInterrupt":
                result.error = "KeyboardInterrupt"
            else:
                result.error += "\n(KeyboardInterrupt while formatting the error)"
        return summary_note

    def _set_running(self) -> None:
        interruption.register_current_thread()
        with self._lock:
            self._running_thread = threading.get_ident()
            self._changed.notify_all()

    def _set_idle(self) -> None:
        """No code runs from here on, and no interrupt is still on its way to this thread."""
        ident = threading.get_ident()
        while True:
            try:
                with self._lock:
                    if self._running_thread == ident:
                        self._running_thread = None
                        self._changed.notify_all()
                    # An interrupt sent just before this is withdrawn: it must not land in
                    # dltui's own code after the run.
                    interruption.clear_pending(ident)
                interruption.unregister_current_thread()
                return
            except KeyboardInterrupt:
                continue  # it landed here instead; the state is set on the next pass

    def _exec(self, source: str, filename: str) -> Any:
        magic = parse_magic(source)  # x?, %timeit, %run...: IPython habits
        if magic is not None:
            return magic.run(self.namespace, filename)
        try:
            tree = ast.parse(source, filename, "exec")
            last_expr = None
            if tree.body and isinstance(tree.body[-1], ast.Expr):
                last_expr = ast.Expression(tree.body.pop().value)
            body = compile(tree, filename, "exec") if tree.body else None
            expr = compile(last_expr, filename, "eval") if last_expr is not None else None
        except (RecursionError, MemoryError) as exc:
            # Input nested thousands deep: the parser or compiler gives up. Say so in one
            # line; the namespace is untouched, since nothing ran.
            raise _TooDeep(exc) from None
        if body is not None:
            exec(body, self.namespace)
        if expr is not None:
            return eval(expr, self.namespace)
        return None


class _TooDeep(Exception):
    """The source could not be parsed or compiled for its depth (not a user error type)."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


def _no_input(prompt: object = "") -> str:
    # The terminal belongs to the UI: a read from stdin would block this worker forever.
    raise RuntimeError(
        "input() cannot read from the dltui REPL (the terminal belongs to the UI): "
        "assign the value in code instead, e.g. name = 'value'"
    )


def _repl_builtins() -> dict[str, Any]:
    """The builtins user code sees: Python's own, with ``input`` that explains itself."""
    import builtins

    names = dict(vars(builtins))
    names["input"] = _no_input
    names["help"] = _help
    return names


def _help(*args: Any, **kwargs: Any) -> None:
    """help(obj) prints the documentation; interactive help() would read the terminal."""
    if not args and not kwargs:
        raise RuntimeError(
            "interactive help() cannot read from the dltui REPL: ask about one thing, "
            "e.g. help(torch.matmul) or help(nn.Linear)"
        )
    import pydoc

    pydoc.help(*args, **kwargs)


def capture_to_string(func: Callable[[], Any]) -> str:
    """Run ``func`` with this thread's stdout captured; for tests and headless use."""
    buffer = BoundedText(OUTPUT_LIMIT)
    RoutedStream.install()
    RoutedStream.route_current_thread(buffer)
    try:
        func()
    finally:
        RoutedStream.unroute_current_thread()
    return buffer.text()


__all__ = [
    "PRELOADED",
    "RunResult",
    "Session",
    "SessionInfo",
    "capture_to_string",
    "default_device_name",
]
