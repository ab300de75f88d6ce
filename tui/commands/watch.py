"""``dltui watch PATH...``: check the paths before the TUI opens.

Each PATH is a dltui run directory, a folder of runs (dltui's ``runs/``, a TensorBoard
log dir, ``lightning_logs/``), one ``events.out.tfevents.*`` file or a ``metrics.csv``
(``tui.core.train.sources.discover``). A PATH that does not exist, or under which no run
is found, is bad input: one line on stderr and exit code 2, before any screen is drawn.
So is a set of runs that are all TensorBoard logs when the ``tensorboard`` package is
missing (the line says how to install it); mixed with other runs, those show the hint
in their row of the runs list instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["check_watch_paths"]


def check_watch_paths(paths: Sequence[str]) -> str | None:
    """The one-line error for ``paths``, or None when there is something to watch."""
    from tui.core.train.sources import (
        MISSING_TENSORBOARD,
        Discovery,
        TensorBoardMissing,
        require_tensorboard,
    )

    found = []
    for raw in paths:
        path = Path(raw).expanduser()
        if not path.exists():
            return f"{raw}: no such file or folder"
        runs = Discovery([path]).scan()
        if not runs:
            return (
                f"{raw}: no run found (a dltui run directory, TensorBoard event files "
                "or a Lightning metrics.csv, in it or in its sub-folders)"
            )
        found += runs
    if all(src.kind == "tensorboard" for src in found):
        try:
            require_tensorboard()
        except TensorBoardMissing:
            return MISSING_TENSORBOARD
    return None
