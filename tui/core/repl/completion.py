"""Tab completion of names and attributes from the live REPL namespace.

The text before the cursor is cut at its last dotted name (``t.sh``, ``torch.ma``); the
part before the last dot is resolved with ``getattr`` from the namespace, never with
``eval``, and properties are not walked through. ``dir()`` and ``getattr`` still call a
user's ``__dir__`` and ``__getattr__``: the REPL pane calls :func:`complete` in a worker,
under a time bound, never on the UI thread.
"""

from __future__ import annotations

import builtins
import keyword
import re
from typing import Any

_TOKEN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*\.?$")


def current_token(text_before_cursor: str) -> str:
    """The dotted name the cursor is at the end of ('' when there is none)."""
    match = _TOKEN.search(text_before_cursor)
    if match is None:
        return ""
    start = match.start()
    # A digit or a name character before the match means we matched inside a number
    # or something that is not a name start.
    if start > 0 and (
        text_before_cursor[start - 1].isalnum() or text_before_cursor[start - 1] in "_"
    ):
        return ""
    return match.group(0)


def complete(text_before_cursor: str, namespace: dict[str, Any]) -> tuple[str, list[str]]:
    """Return (token, candidates): full replacements for the token, sorted.

    ``complete("x = t.sh", ns)`` -> ``("t.sh", ["t.shape"])``.
    """
    token = current_token(text_before_cursor)
    if not token:
        return "", []
    if "." not in token:
        # list(): the namespace may grow meanwhile in the thread that runs code.
        names = {n for n in list(namespace) if isinstance(n, str)}
        names |= set(dir(builtins)) | set(keyword.kwlist)
        found = sorted(n for n in names if n.startswith(token) and not n.startswith("__"))
        return token, found
    base, _, prefix = token.rpartition(".")
    obj = _resolve(base, namespace)
    if obj is _MISSING:
        return token, []
    try:
        attrs = dir(obj)
    except Exception:
        return token, []
    # Private names only when the user typed the underscore. A __dir__ may return
    # anything iterable, names that are not str included.
    show_private = prefix.startswith("_")
    found = sorted(
        a
        for a in attrs
        if isinstance(a, str) and a.startswith(prefix) and (show_private or not a.startswith("_"))
    )
    return token, [f"{base}.{a}" for a in found]


_MISSING = object()


def _resolve(dotted: str, namespace: dict[str, Any]) -> Any:
    head, *rest = dotted.split(".")
    if head in namespace:
        obj = namespace[head]
    elif hasattr(builtins, head):
        obj = getattr(builtins, head)
    else:
        return _MISSING
    for part in rest:
        # A property on the class would run code on getattr: refuse to walk through it.
        if isinstance(getattr(type(obj), part, None), property):
            return _MISSING
        try:
            obj = getattr(obj, part)
        except Exception:
            return _MISSING
    return obj


def common_prefix(candidates: list[str]) -> str:
    """The longest prefix shared by every candidate."""
    if not candidates:
        return ""
    first, last = min(candidates), max(candidates)
    i = 0
    while i < len(first) and i < len(last) and first[i] == last[i]:
        i += 1
    return first[:i]
