"""Helpers over tag and run names for the monitor's pickers and filters.

- :func:`tag_groups`: ``Loss/train``, ``Loss/val`` -> group ``Loss`` (TensorBoard's
  grouping: the part before the first ``/``; a tag without one is its own group).
- :func:`fuzzy_match`: a subsequence match ranked like an editor's file picker.
- :func:`compile_filter` / :func:`filter_names`: a regex over run (or tag) names; a bad
  pattern is a one-line message, never an exception.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = ["compile_filter", "filter_names", "fuzzy_match", "fuzzy_score", "tag_groups"]


def tag_groups(tags: Iterable[str]) -> dict[str, list[str]]:
    """Tags by group (the prefix before the first ``/``), groups and tags in first-seen
    order; a tag with no ``/`` forms a group of its own name."""
    groups: dict[str, list[str]] = {}
    for tag in tags:
        group = tag.split("/", 1)[0] if "/" in tag else tag
        groups.setdefault(group, []).append(tag)
    return groups


def fuzzy_score(query: str, text: str) -> int | None:
    """How well ``query`` matches ``text`` as a case-insensitive subsequence (higher is
    better), or None when it does not. Rewards consecutive characters, a match at the
    start or after a separator (``/ _ - . space``), and shorter texts."""
    if not query:
        return 0
    q, t = query.lower(), text.lower()
    score, pos, prev = 0, 0, -2
    for ch in q:
        i = t.find(ch, pos)
        if i < 0:
            return None
        score += 1
        if i == prev + 1:
            score += 5  # a run of consecutive characters
        if i == 0 or t[i - 1] in "/_-. ":
            score += 3  # the start of a word
        prev, pos = i, i + 1
    if t.startswith(q):
        score += 10
    return score * 100 - len(t)


def fuzzy_match(query: str, choices: Iterable[str], limit: int | None = None) -> list[str]:
    """``choices`` that match ``query`` (see :func:`fuzzy_score`), best first; ties keep
    the given order. An empty query returns every choice in order."""
    scored = []
    for i, c in enumerate(choices):
        s = fuzzy_score(query, c)
        if s is not None:
            scored.append((-s, i, c))
    scored.sort()
    out = [c for _, _, c in scored]
    return out if limit is None else out[:limit]


def compile_filter(pattern: str) -> tuple[re.Pattern[str] | None, str | None]:
    """``(compiled, None)`` for a valid regex (searched, case-insensitive), ``(None,
    None)`` for an empty one (no filter), ``(None, message)`` for a bad one: one line
    such as ``bad filter 'a(': missing ), unterminated subpattern at position 1``."""
    if not pattern:
        return None, None
    try:
        return re.compile(pattern, re.IGNORECASE), None
    except re.error as exc:
        return None, f"bad filter {pattern!r}: {exc}".splitlines()[0]


def filter_names(pattern: str, names: Iterable[str]) -> tuple[list[str], str | None]:
    """The ``names`` matching ``pattern`` (all of them for an empty pattern) and the
    error line of a bad pattern (then every name is kept, so a typo hides nothing)."""
    names = list(names)
    rx, err = compile_filter(pattern)
    if rx is None:
        return names, err
    return [n for n in names if rx.search(n)], None
