"""dltui's own run directories (``status.json``, ``metrics.jsonl``) as a :class:`RunSource`.

Reading goes through :class:`~tui.core.train.runs.MetricsReader` (byte offset, torn last
line kept for the next read; dltui's own lines parsed straight into arrays) and the state
through ``read_status`` and ``live_state``, so a run whose writer died shows ``died`` here
as everywhere else.
"""

from __future__ import annotations

import os
from typing import Any

from tui.core.train.config import RunState
from tui.core.train.runs import METRICS, STATUS, MetricsReader, live_state, read_status
from tui.core.train.sources.base import RunSource, Scalars, newest_mtime

__all__ = ["DltuiSource", "is_dltui_run"]

# Per poll: a huge backlog is read over several polls (~200,000 lines each), so the
# first points reach the plot while the rest is read, and memory stays bounded.
_MAX_BYTES = 16 << 20


def is_dltui_run(path: str | os.PathLike) -> bool:
    """Whether a folder holds a dltui run (its status or metrics file)."""
    return any(os.path.isfile(os.path.join(path, f)) for f in (STATUS, METRICS))


class DltuiSource(RunSource):
    """A dltui run directory. ``state`` is the status file's, checked against its writer
    process; ``status`` the last ``status.json`` read (refreshed by each poll)."""

    kind = "dltui"

    def __init__(self, path: str | os.PathLike, name: str | None = None) -> None:
        super().__init__(path, name)
        self._reader = MetricsReader(self.path)
        self.status: dict[str, Any] | None = None

    def poll(self) -> dict[str, Scalars]:
        self.status = read_status(self.path)
        try:
            arrays = self._reader.read_arrays(max_bytes=_MAX_BYTES)
        except (OSError, ValueError) as exc:
            self.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            return {}
        skipped = self._reader.skipped
        self.error = f"{skipped} unreadable lines in {METRICS}" if skipped else None
        out = {tag: Scalars(a.steps, a.times, a.values) for tag, a in arrays.items()}
        return self._note(out)

    @property
    def state(self) -> RunState:
        status = self.status if self.status is not None else read_status(self.path)
        return live_state(status)

    @property
    def last_update(self) -> float | None:
        status = self.status or {}
        updated = status.get("updated")
        mtime = newest_mtime([self.path / METRICS, self.path / STATUS])
        if isinstance(updated, (int, float)) and (mtime is None or updated > mtime):
            return float(updated)
        return mtime
