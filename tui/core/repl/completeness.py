"""Whether Enter should run the REPL input or continue the block, decided under a bound.

The check runs on the UI thread at every Enter, so it must stay cheap and must never
raise: ``codeop`` compiles the input, and input nested thousands deep (``~~~…1``,
``1+1+…`` with thousands of terms, ``not not …``) makes Python's parser or compiler raise
RecursionError or MemoryError. Input too long to check quickly, and input the check
fails on, counts as complete: the worker then compiles it and reports the error.
"""

from __future__ import annotations

import codeop

CHECK_LIMIT = 50_000
"""Characters above which input is run without a check (compiling it could take long)."""

NESTING_LIMIT = 200
"""Brackets or prefix operators in a row above which input is run without a check."""

_PREFIX_OPERATORS = frozenset("~-+")


def is_complete(source: str) -> bool:
    """Whether Enter should run ``source`` rather than continue the block.

    Mirrors Python's own REPL (``codeop``): an open bracket or a compound statement
    continues; inside an indented block, a blank line ends it. A syntax error counts as
    complete so that running it shows the error; so does input over the bounds.
    """
    if not source.strip():
        return False
    lines = source.split("\n")
    if len(lines) > 1 and not lines[-1].strip():
        return True
    if len(source) > CHECK_LIMIT or nesting_depth(source) > NESTING_LIMIT:
        return True
    try:
        return _compiles_complete(source, lines)
    except Exception:
        # RecursionError, MemoryError, or anything else codeop raises on odd input: the
        # worker's compile reports it properly, and Enter must never fail.
        return True


def _compiles_complete(source: str, lines: list[str]) -> bool:
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


def nesting_depth(source: str) -> int:
    """A cheap upper estimate of how deep the parser would recurse on ``source``.

    The deepest bracket nesting, the longest run of prefix operators (``~``, unary
    ``-``/``+``, ``not``) and binary ``+``/``-`` chains, or the number of lambdas,
    whichever is larger. Strings and
    comments are not skipped: over-counting only sends odd input to the worker unchecked.
    """
    depth = deepest = run = longest = 0
    for ch in source:
        if ch in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in ")]}":
            depth = max(0, depth - 1)
        if ch in _PREFIX_OPERATORS:
            run += 1
            longest = max(longest, run)
        elif ch == "\n":
            run = 0
    # ``not`` is a word: count the words of the longest line instead of its characters.
    nots = max((line.count("not ") for line in source.split("\n")), default=0)
    # Nested lambdas compile in time that grows faster than their number (700: 2 s,
    # 1500: 11 s): counted whether nested or not, since a REPL line never holds 200.
    return max(deepest, longest, nots, source.count("lambda"))


__all__ = ["CHECK_LIMIT", "NESTING_LIMIT", "is_complete", "nesting_depth"]
