"""The REPL session: a Python namespace preloaded for PyTorch, and evaluation of code in it.

A :class:`Session` is driven from a worker thread (never the UI thread): ``load()``
imports torch and fills the namespace, ``run(source)`` executes one submission the way
Python's interactive REPL would (the value of a final expression is shown and bound to
``_``), capturing ``print`` output into a bounded buffer and turning exceptions into
tracebacks that show the user's lines only. ``interrupt()`` may be called from any thread
and raises ``KeyboardInterrupt`` inside the running code; the namespace survives it.
"""

from __future__ import annotations

import ast
import codeop
import ctypes
import linecache
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tui.core.repl.output import BoundedText, RoutedStream

PRELOADED = ("torch", "nn", "F", "optim", "np", "Dataset", "DataLoader", "TensorDataset")
"""Names every fresh namespace holds, besides ``device``."""

# Code the user runs is compiled under this filename prefix: the traceback filter keeps
# frames whose file starts with it, and linecache serves their source lines.
REPL_FILENAME = "<repl-{n}>"

OUTPUT_LIMIT = 20_000
"""Characters of output kept per submission; the rest is counted and noted."""


def is_complete(source: str) -> bool:
    """Whether Enter should run ``source`` rather than continue the block.

    Mirrors Python's own REPL (``codeop``): an open bracket or a compound statement
    continues; inside an indented block, a blank line ends it. A syntax error counts as
    complete so that running it shows the error.
    """
    if not source.strip():
        return False
    lines = source.split("\n")
    if len(lines) > 1 and not lines[-1].strip():
        return True
    try:
        code = codeop.compile_command(source, "<input>", "single")
    except SyntaxError as exc:
        if "multiple statements" not in str(exc.msg):
            return True
        # Several statements (a pasted block): complete as a module, unless the cursor
        # is still inside an indented block, which Python's REPL would continue.
        try:
            code = codeop.compile_command(source, "<input>", "exec")
        except SyntaxError:
            return True
        return code is not None and not lines[-1][:1].isspace()
    except (ValueError, OverflowError):
        return True
    return code is not None


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
        self._explain: Callable[[BaseException], str | None] | None = None

    @property
    def loaded(self) -> bool:
        return self.info is not None

    @property
    def running(self) -> bool:
        return self._running_thread is not None

    def load(self) -> SessionInfo:
        """Import torch (slow: ~1.5 s) and fill the namespace. Call from a worker thread."""
        import torch

        from tui.core.repl.explain import explain

        self._explain = explain
        error = None
        try:
            name = default_device_name(self.requested_device)
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
        return [
            k
            for k in self.namespace
            if not k.startswith("__") and k not in PRELOADED and k != "device"
        ]

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
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(ident), ctypes.py_object(KeyboardInterrupt)
            )
            return True

    def run(self, source: str) -> RunResult:
        """Execute ``source`` in the namespace; call from a worker thread."""
        result = RunResult(source=source)
        summary_note: str | None = None
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
        try:
            RoutedStream.install()
            RoutedStream.route_current_thread(buffer)
            try:
                with self._lock:
                    self._running_thread = threading.get_ident()
                    self._changed.notify_all()
                try:
                    value = self._exec(source, filename)
                finally:
                    with self._lock:
                        self._running_thread = None
                        self._changed.notify_all()
                if value is not None:
                    self.namespace["_"] = value
                    result.value_repr = _bounded_repr(value, OUTPUT_LIMIT)
                    summary_note = _summarised_note(value)
            except KeyboardInterrupt:
                result.interrupted = True
                result.error = "KeyboardInterrupt"
            except SyntaxError as exc:
                result.error = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
            except BaseException as exc:  # user code may raise anything, SystemExit too
                result.error = _user_traceback(exc)
                if self._explain is not None:
                    try:
                        result.explanation = self._explain(exc)
                    except Exception:  # an explanation must never hide the error
                        result.explanation = None
            finally:
                RoutedStream.unroute_current_thread()
        except KeyboardInterrupt:
            # The async exception arrived just after the user code returned.
            result.interrupted = True
            result.error = result.error or "KeyboardInterrupt"
        result.output = buffer.text()
        notes = [n for n in (buffer.note(), summary_note) if n]
        result.truncated_note = "\n".join(notes) if notes else None
        result.elapsed = time.perf_counter() - started
        return result

    def _exec(self, source: str, filename: str) -> Any:
        tree = ast.parse(source, filename, "exec")
        last_expr = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last_expr = ast.Expression(tree.body.pop().value)
        if tree.body:
            exec(compile(tree, filename, "exec"), self.namespace)
        if last_expr is not None:
            return eval(compile(last_expr, filename, "eval"), self.namespace)
        return None


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


def _summarised_note(value: Any) -> str | None:
    """A note when torch printed a big tensor in summary (``...``) form."""
    import torch

    if not isinstance(value, torch.Tensor) or value.is_meta or value.is_sparse:
        return None
    threshold = torch._tensor_str.PRINT_OPTS.threshold
    if value.numel() <= threshold:
        return None
    return (
        f"… tensor shown summarised: {value.numel():,} elements, above torch's print "
        f"threshold of {threshold:,} (torch.set_printoptions(threshold=...) shows more)"
    )


def _bounded_repr(value: Any, limit: int) -> str:
    # A huge string's repr is as big as the string: cut the string first.
    if isinstance(value, (str, bytes)) and len(value) > limit:
        head = repr(value[:limit])
        return f"{head}\n… value truncated: {len(value):,} characters, showing the first {limit:,}"
    try:
        text = repr(value)
    except Exception as exc:
        return f"<repr failed: {type(exc).__name__}: {exc}>"
    if len(text) > limit:
        return (
            text[:limit] + f"\n… value truncated: repr is {len(text):,} characters, "
            f"showing the first {limit:,}"
        )
    return text


def _user_traceback(exc: BaseException) -> str:
    """A traceback without dltui's own frames: from the first frame of the user's code."""
    tb = exc.__traceback__
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<repl-"):
        tb = tb.tb_next
    te = traceback.TracebackException(type(exc), exc, tb, compact=True)
    # dltui's own helpers (input, help) raise on the user's behalf: keep their frames out.
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if not f.filename.startswith(_PACKAGE_DIR)]
    )
    return "".join(te.format()).rstrip()


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


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
    "is_complete",
]
