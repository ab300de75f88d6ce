"""Values and errors of REPL code as bounded text: reprs, tracebacks, syntax errors.

Everything here may run user code (``__repr__``, an exception's ``__str__``), so the
session calls it from the worker thread while the code is still interruptible. Text is
bounded as output is: ``raise ValueError('y' * 10**8)`` gives a traceback of at most
``limit`` characters, never 100 MB for the UI to lay out.
"""

from __future__ import annotations

import os
import traceback
from typing import Any

ERROR_LIMIT = 20_000
"""Characters of a traceback kept; an exception's own message is cut before formatting."""

MESSAGE_LIMIT = 5_000
"""Characters of one exception message (or note, or source line) kept in a traceback."""

# dltui's own files: their frames are left out of the tracebacks users see.
_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def cut(text: str, limit: int, what: str = "text") -> str:
    """``text`` up to ``limit`` characters, with a line saying how much was left out."""
    if len(text) <= limit:
        return text
    note = f"… {what} truncated: {len(text):,} characters, showing the first {limit:,}"
    return f"{text[:limit]}\n{note}"


def bounded_repr(value: Any, limit: int) -> str:
    """``repr(value)``, cut to ``limit`` characters; a failing repr says so."""
    # A huge string's repr is as big as the string: cut the string first.
    if isinstance(value, (str, bytes)) and len(value) > limit:
        head = repr(value[:limit])
        return f"{head}\n… value truncated: {len(value):,} characters, showing the first {limit:,}"
    try:
        text = repr(value)
    except Exception as exc:
        return f"<repr failed: {type(exc).__name__}: {exception_message(exc)}>"
    if not isinstance(text, str):  # only a C extension's repr can get here
        return f"<repr returned {type(text).__name__}, not str>"
    if len(text) > limit:
        return (
            text[:limit] + f"\n… value truncated: repr is {len(text):,} characters, "
            f"showing the first {limit:,}"
        )
    return text


def summarised_note(value: Any) -> str | None:
    """A note when torch printed a big tensor in summary (``...``) form."""
    import torch

    try:
        if not isinstance(value, torch.Tensor) or value.is_meta or value.is_sparse:
            return None
        numel = value.numel()
    except Exception:  # a hostile __class__ or tensor subclass: no note rather than an error
        return None
    threshold = torch._tensor_str.PRINT_OPTS.threshold
    if numel <= threshold:
        return None
    return (
        f"… tensor shown summarised: {numel:,} elements, above torch's print "
        f"threshold of {threshold:,} (torch.set_printoptions(threshold=...) shows more)"
    )


def user_traceback(exc: BaseException, limit: int = ERROR_LIMIT) -> str:
    """A traceback without dltui's own frames (from the first frame of the user's code).

    Every message in it (the exception's, its notes, its chained causes') is cut to
    :data:`MESSAGE_LIMIT` before the whole is formatted and cut to ``limit``.
    """
    start = exc.__traceback__
    tb = start
    while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<repl-"):
        tb = tb.tb_next
    if tb is None:
        # No typed line in it (a script run by %run): from the first frame not dltui's.
        tb = start
        while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
            tb = tb.tb_next
    te = traceback.TracebackException(type(exc), exc, tb, compact=True)
    # dltui's own helpers (input, help) raise on the user's behalf: keep their frames out.
    te.stack = traceback.StackSummary.from_list(
        [f for f in te.stack if not f.filename.startswith(_PACKAGE_DIR)]
    )
    _bound_messages(te)
    return cut("".join(te.format()).rstrip(), limit, "traceback")


def syntax_error_text(exc: SyntaxError, limit: int = ERROR_LIMIT) -> str:
    """The few lines Python prints for a syntax error (no traceback), bounded."""
    te = traceback.TracebackException(type(exc), exc, None, compact=True)
    _bound_messages(te)
    return cut("".join(te.format_exception_only()).rstrip(), limit, "error")


def too_deep_text(exc: BaseException) -> str:
    """One line for input the parser or compiler gave up on (RecursionError, MemoryError)."""
    detail = exception_message(exc) or "out of memory"
    return (
        f"{type(exc).__name__}: the input is nested too deeply for Python to compile "
        f"({detail}); split it into smaller expressions"
    )


def exception_message(exc: BaseException) -> str:
    """``str(exc)``, bounded; a ``__str__`` that raises gives a placeholder.

    Not guarded against KeyboardInterrupt: a ``__str__`` that loops is ended by ctrl+c,
    and the caller reports the interrupt (``traceback``'s own guard would swallow it).
    """
    try:
        text = str(exc)
    except Exception:
        return f"<{type(exc).__name__} whose str() failed>"
    if not isinstance(text, str):
        return f"<{type(exc).__name__} whose str() is not a str>"
    return cut(text, MESSAGE_LIMIT, "message")


def _bound_messages(te: traceback.TracebackException) -> None:
    """Cut the messages of ``te`` and of every exception chained to it, in place."""
    seen: set[int] = set()
    pending = [te]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        # _str is where TracebackException keeps str(exc) (CPython 3.10 to 3.13).
        text = getattr(current, "_str", None)
        if isinstance(text, str):
            current._str = cut(text, MESSAGE_LIMIT, "message")
        if isinstance(getattr(current, "text", None), str):  # a SyntaxError's source line
            current.text = cut(current.text, MESSAGE_LIMIT, "line")  # type: ignore[arg-type]
        notes = getattr(current, "__notes__", None)
        if isinstance(notes, list):
            current.__notes__ = [cut(str(n), MESSAGE_LIMIT, "note") for n in notes[:20]]
        for frame in current.stack:
            line = frame.line  # linecache's copy of the user's source line
            if line is not None and len(line) > MESSAGE_LIMIT:
                frame._line = cut(line, MESSAGE_LIMIT, "line")  # type: ignore[attr-defined]
        for chained in (current.__cause__, current.__context__):
            if chained is not None:
                pending.append(chained)
        pending.extend(getattr(current, "exceptions", None) or [])


__all__ = [
    "ERROR_LIMIT",
    "MESSAGE_LIMIT",
    "bounded_repr",
    "cut",
    "exception_message",
    "summarised_note",
    "syntax_error_text",
    "too_deep_text",
    "user_traceback",
]
