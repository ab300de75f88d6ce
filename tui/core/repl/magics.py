"""IPython habits in a plain-Python REPL: ``x?``, ``x??``, ``%timeit``, ``%time``, ``%run``.

A PyTorch user types these without thinking; a bare SyntaxError would be a poor answer.
:func:`parse` recognises a submission that is one of them and returns a :class:`Magic`
to run in the session's namespace (on the REPL thread, inside the interruptible part of
the run, so ctrl+c stops a ``%timeit`` or a script as any other code):

- ``x?`` / ``?x``: the type, signature and docstring of ``x``; ``x??`` also its source;
- ``%timeit [-n N] [-r R] stmt``: ``timeit`` with auto-ranged loops, mean ± std. dev.;
- ``%time stmt``: one run, CPU and wall time; an expression's value is the result;
- ``%run script.py [args]``: the script run as ``__main__`` with ``sys.argv`` set, its
  globals then in the namespace (as IPython does), its output in the REPL's;
- any other ``%magic``, ``%%cell`` magic or ``!shell`` line: one line saying what to
  type instead (:class:`MagicHint`).

Nothing else is touched: a submission that is not one of these forms runs as Python.
"""

from __future__ import annotations

import ast
import inspect
import math
import os
import re
import shlex
import sys
import time
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from tui.core.repl.formatting import bounded_repr

__all__ = ["Magic", "MagicHint", "parse"]

SUPPORTED = "x? and x?? (help, source), %timeit, %time and %run script.py"
TIMEIT_REPEAT = 7
TIMEIT_TARGET_S = 0.2  # timeit's autorange: loops per run until one run takes this long
SOURCE_LIMIT = 400  # lines of source shown by x??
FORM_LIMIT = 300  # characters of a value's repr shown by x?


class MagicHint(Exception):
    """A line written for IPython or a shell that this REPL does not run, in one line."""


@dataclass(frozen=True)
class Magic:
    """One recognised habit: ``run(namespace, filename)`` does it and returns the value to
    show (None for nothing)."""

    kind: str
    run: Callable[[dict[str, Any], str], Any]


def parse(source: str) -> Magic | None:
    """The habit ``source`` is, or None when it is ordinary Python (or none of them).

    Raises:
        MagicHint: an IPython magic or shell escape that is not supported here.
    """
    text = source.strip()
    if not text or ("\n" in text and not text.startswith(("%", "!"))):
        return None
    first = text.split("\n", 1)[0]
    if first.startswith("%%"):
        name = first[2:].split(None, 1)[0] if first[2:].strip() else ""
        raise MagicHint(
            f"%%{name} is an IPython cell magic; dltui's REPL runs Python: supported are "
            f"{SUPPORTED}"
        )
    if first.startswith("!"):
        cmd = first[1:].strip()
        raise MagicHint(
            f"!{cmd} is a shell command; dltui's REPL runs Python: use "
            f"subprocess.run({cmd!r}, shell=True) (its output shows here) or a shell"
        )
    if first.startswith("%"):
        if "\n" in text:
            raise MagicHint(f"{first.split()[0]} takes one line: put the code on that line")
        return _line_magic(first[1:])
    return _help(text)


def _line_magic(line: str) -> Magic:
    name, _, rest = line.partition(" ")
    rest = rest.strip()
    if name == "timeit":
        return Magic("timeit", lambda ns, fn: _timeit(rest, ns))
    if name == "time":
        return Magic("time", lambda ns, fn: _time(rest, ns, fn))
    if name == "run":
        return Magic("run", lambda ns, fn: _run_script(rest, ns))
    if name in ("pip", "conda"):
        raise MagicHint(f"%{name} installs packages: run `{name} {rest}` in a shell, then restart")
    if name in ("matplotlib", "load_ext", "autoreload", "config"):
        raise MagicHint(f"%{name} is IPython's; dltui's REPL has no use for it: nothing to do")
    raise MagicHint(
        f"%{name} is an IPython magic; dltui's REPL runs Python: supported are {SUPPORTED}"
    )


# -- x? and x?? ----------------------------------------------------------------------


_HELP_RE = re.compile(r"^(\?\??)?(?P<expr>.*?)(?P<mark>\?\??)?$", re.S)


def _help(text: str) -> Magic | None:
    if "?" not in text:
        return None
    try:
        ast.parse(text)
        return None  # valid Python (a "?" in a string or a comment): run it as such
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    m = _HELP_RE.match(text)
    if m is None:
        return None
    lead, expr, mark = m.group(1), m.group("expr").strip(), m.group("mark")
    if bool(lead) == bool(mark) or not expr:
        return None  # neither or both: not the help form
    try:
        ast.parse(expr, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None  # `a ? b` or worse: let Python say what is wrong
    source = (lead or mark) == "??"
    return Magic("help", lambda ns, fn: _show_help(expr, ns, fn, source))


def _show_help(expr: str, namespace: dict[str, Any], filename: str, source: bool) -> None:
    obj = eval(compile(expr, filename, "eval"), namespace)
    lines = [f"Type:      {type(obj).__module__}.{type(obj).__qualname__}"]
    try:
        sig = inspect.signature(obj)
        lines.append(f"Signature: {expr}{sig}")
    except (TypeError, ValueError):
        pass
    if not callable(obj):
        lines.append(f"String form: {bounded_repr(obj, FORM_LIMIT)}")
        for attr in ("shape", "dtype", "device"):
            value = getattr(obj, attr, None) if attr != "shape" or _has_shape(obj) else None
            if value is not None:
                lines.append(f"{attr.capitalize() + ':':<10} {value}")
    path = _source_file(obj)
    if path:
        lines.append(f"File:      {path}")
    if source:
        try:
            code = inspect.getsource(obj).splitlines()
        except (OSError, TypeError):
            lines.append("Source:    not available (built in, or defined in C)")
        else:
            more = len(code) - SOURCE_LIMIT
            lines += ["Source:", *code[:SOURCE_LIMIT]]
            if more > 0:
                lines.append(f"… {more} more lines")
    doc = inspect.getdoc(obj)
    lines += ["Docstring:", doc] if doc else ["Docstring: none"]
    print("\n".join(lines))


def _has_shape(obj: Any) -> bool:
    return isinstance(getattr(obj, "shape", None), tuple)


def _source_file(obj: Any) -> str | None:
    try:
        return inspect.getsourcefile(obj) or inspect.getfile(obj)
    except (TypeError, OSError):
        return None


# -- %timeit and %time ---------------------------------------------------------------


def _timeit(args: str, namespace: dict[str, Any]) -> None:
    number, repeat, stmt = _timeit_options(args)
    timer = timeit.Timer(stmt, globals=namespace)
    if number is None:
        number = 1
        # Auto-range as timeit's command line does: grow until one run takes long enough.
        while True:
            if timer.timeit(number) >= TIMEIT_TARGET_S or number >= 10**9:
                break
            number *= 10
    runs = [t / number for t in timer.repeat(repeat=repeat, number=number)]
    mean = sum(runs) / len(runs)
    std = math.sqrt(sum((r - mean) ** 2 for r in runs) / len(runs))
    plural = "s" if number != 1 else ""
    print(
        f"{duration(mean)} ± {duration(std)} per loop (mean ± std. dev. of {repeat} run"
        f"{'s' if repeat != 1 else ''}, {number:,} loop{plural} each)"
    )


def _timeit_options(args: str) -> tuple[int | None, int, str]:
    number, repeat = None, TIMEIT_REPEAT
    rest = args
    while True:
        m = re.match(r"-(n|r)\s*(\d+)\s+", rest)
        if m is None:
            break
        value = int(m.group(2))
        if value < 1:
            raise MagicHint(f"%timeit -{m.group(1)} needs a count of at least 1")
        if m.group(1) == "n":
            number = value
        else:
            repeat = value
        rest = rest[m.end() :]
    if not rest.strip():
        raise MagicHint("%timeit needs a statement to time, e.g. %timeit x @ x")
    return number, repeat, rest.strip()


def _time(stmt: str, namespace: dict[str, Any], filename: str) -> Any:
    if not stmt:
        raise MagicHint("%time needs a statement to time, e.g. %time y = model(x)")
    tree = ast.parse(stmt, filename, "exec")
    expr = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        expr = compile(ast.Expression(tree.body.pop().value), filename, "eval")
    body = compile(tree, filename, "exec")
    t0, c0 = time.perf_counter(), os.times()
    try:
        exec(body, namespace)
        value = eval(expr, namespace) if expr is not None else None
    finally:
        wall, c1 = time.perf_counter() - t0, os.times()
        user, system = c1.user - c0.user, c1.system - c0.system
        print(
            f"CPU times: user {duration(user)}, sys {duration(system)}, "
            f"total {duration(user + system)}\nWall time: {duration(wall)}"
        )
    return value


def duration(seconds: float) -> str:
    """A time as IPython prints it: 3 significant digits in s, ms, µs or ns."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if seconds >= scale or unit == "ns":
            value = seconds / scale
            return f"{value:.3g} {unit}"
    return f"{seconds:.3g} s"  # pragma: no cover


# -- %run ----------------------------------------------------------------------------


def _run_script(args: str, namespace: dict[str, Any]) -> None:
    try:
        argv = shlex.split(args)
    except ValueError as exc:
        raise MagicHint(f"%run: {exc} in the arguments") from None
    if not argv:
        raise MagicHint("%run needs a script, e.g. %run train.py --epochs 3")
    path = os.path.abspath(os.path.expanduser(argv[0]))
    if not os.path.isfile(path):
        raise MagicHint(f"%run: no file {argv[0]!r} (the REPL's folder is {os.getcwd()})")
    try:
        with open(path, "rb") as fh:
            code = compile(fh.read(), path, "exec")
    except OSError as exc:
        raise MagicHint(f"%run: cannot read {argv[0]!r}: {exc.strerror or exc}") from None
    script: dict[str, Any] = {
        "__name__": "__main__",
        "__file__": path,
        "__builtins__": namespace.get("__builtins__", __builtins__),
    }
    folder = os.path.dirname(path)
    saved_argv = sys.argv
    sys.argv = [path, *argv[1:]]
    sys.path.insert(0, folder)  # as `python script.py` does: its folder first
    try:
        exec(code, script)
    finally:
        sys.argv = saved_argv
        if folder in sys.path:
            sys.path.remove(folder)
        # IPython's %run: what the script defined is the user's to poke at afterwards,
        # also when it failed half way (the state at the failure is the interesting one).
        namespace.update({k: v for k, v in script.items() if not k.startswith("__")})
