"""REPL input history, persisted across launches in the user's data directory.

Entries are whole submissions (multi-line blocks stay one entry), stored one JSON string
per line so that newlines survive. The file lives in ``$DLTUI_DATA_DIR`` if set, else
``$XDG_DATA_HOME/dltui``, else ``~/.local/share/dltui``. Writes append one line; a torn
last line (a crash mid-write) is skipped when reading.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

MAX_ENTRIES = 5_000


def data_dir() -> Path:
    """The folder dltui keeps per-user state in."""
    override = os.environ.get("DLTUI_DATA_DIR")
    if override:
        return Path(override)
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "dltui"


class History:
    """A list of past submissions with a cursor for Up/Down walking."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else data_dir() / "history.jsonl"
        self.entries: list[str] = self._read()
        self._cursor: int | None = None
        self._draft = ""

    def _read(self) -> list[str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError:
            return []
        entries = []
        for line in text.splitlines():
            try:
                value = json.loads(line)
            except ValueError:
                continue  # a torn or foreign line: skip it, keep the rest
            if isinstance(value, str):
                entries.append(value)
        return entries[-MAX_ENTRIES:]

    def add(self, source: str) -> None:
        """Record a submission (not a repeat of the last one) and reset the cursor."""
        self._cursor = None
        if not source.strip() or (self.entries and self.entries[-1] == source):
            return
        self.entries.append(source)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(source) + "\n")
        except OSError:
            pass  # history is a convenience: an unwritable home must not break the REPL
        if len(self.entries) > 2 * MAX_ENTRIES:
            self.entries = self.entries[-MAX_ENTRIES:]

    def previous(self, current: str) -> str | None:
        """The entry before the cursor (Up); ``current`` is kept as the draft."""
        if not self.entries:
            return None
        if self._cursor is None:
            self._draft = current
            self._cursor = len(self.entries)
        if self._cursor == 0:
            return None
        self._cursor -= 1
        return self.entries[self._cursor]

    def next(self) -> str | None:
        """The entry after the cursor (Down); the draft after the newest one."""
        if self._cursor is None:
            return None
        self._cursor += 1
        if self._cursor >= len(self.entries):
            self._cursor = None
            return self._draft
        return self.entries[self._cursor]

    def reset_cursor(self) -> None:
        self._cursor = None

    def search(self, query: str, limit: int = 50) -> list[str]:
        """Distinct entries containing ``query`` (case-insensitive), newest first."""
        needle = query.lower()
        seen: set[str] = set()
        found = []
        for entry in reversed(self.entries):
            if needle in entry.lower() and entry not in seen:
                seen.add(entry)
                found.append(entry)
                if len(found) >= limit:
                    break
        return found
