"""Finding runs under the paths given to ``dltui watch PATH...``.

Each PATH may be a run (a dltui run directory, a TensorBoard run folder, a Lightning
version folder), a single ``events.out.tfevents.*`` file or ``metrics.csv``, or a folder
of runs in any mix (dltui's ``runs/``, a TensorBoard log dir with one sub-folder per
run, ``lightning_logs/version_N/``). A folder is a run of the kinds whose files it holds
directly:

- ``status.json`` or ``metrics.jsonl``: a dltui run (not searched further: a dltui run
  never nests runs);
- ``metrics.csv``: a Lightning run;
- an event file: a TensorBoard run, searched further all the same (TensorBoard shows
  each sub-folder with event files as a run of its own, e.g. what
  ``SummaryWriter.add_scalars`` writes).

Run names are paths relative to the folder given (the folder's own name when it is a
run itself); a name given twice by different PATHs is prefixed with its PATH's name.

The walk is bounded: :data:`MAX_DEPTH` folders deep, at most :data:`MAX_DIRS` folders per
scan, hidden folders and those that hold checkpoints or caches (:data:`SKIP_DIRS`) left
out, so pointing it at a home folder costs a bounded time. :class:`Discovery` keeps the
runs found and its :meth:`~Discovery.scan` returns only the new ones, so calling it again
follows runs that appear later.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from tui.core.train.runs import METRICS, STATUS
from tui.core.train.sources.base import RunSource
from tui.core.train.sources.dltui import DltuiSource
from tui.core.train.sources.lightning import METRICS_CSV, LightningSource
from tui.core.train.sources.tensorboard import TensorBoardSource, is_event_file

__all__ = ["MAX_DEPTH", "MAX_DIRS", "SKIP_DIRS", "Discovery", "discover"]

MAX_DEPTH = 4
MAX_DIRS = 2000
SKIP_DIRS = frozenset(
    {
        "checkpoints",
        "__pycache__",
        "node_modules",
        "site-packages",
        "wandb",
        "mlruns",
    }
)


def _kinds_here(names: Iterable[str]) -> list[str]:
    names = set(names)
    kinds = []
    if STATUS in names or METRICS in names:
        kinds.append("dltui")
    if METRICS_CSV in names:
        kinds.append("lightning")
    if any(is_event_file(n) for n in names):
        kinds.append("tensorboard")
    return kinds


def _walk(root: Path, max_depth: int, budget: list[int]) -> Iterator[tuple[Path, list[str]]]:
    """(folder, the run kinds it holds) for ``root`` and the folders below it, breadth
    first, within the depth and folder budget."""
    level = [root]
    for depth in range(max_depth + 1):
        nxt: list[Path] = []
        for folder in level:
            if budget[0] <= 0:
                return
            budget[0] -= 1
            try:
                with os.scandir(folder) as it:
                    entries = list(it)
            except OSError:
                continue
            files = [e.name for e in entries if _is_file(e)]
            kinds = _kinds_here(files)
            if kinds:
                yield folder, kinds
            if "dltui" in kinds or depth == max_depth:
                continue
            for e in sorted(entries, key=lambda e: e.name):
                if (
                    not e.name.startswith(".")
                    and e.name not in SKIP_DIRS
                    and e.is_dir(follow_symlinks=False)
                ):
                    nxt.append(Path(e.path))
        level = nxt


def _is_file(entry: os.DirEntry) -> bool:
    try:
        return entry.is_file()
    except OSError:
        return False


def _source(kind: str, path: Path, name: str) -> RunSource:
    if kind == "dltui":
        return DltuiSource(path, name)
    if kind == "lightning":
        return LightningSource(path, name)
    return TensorBoardSource(path, name)


class Discovery:
    """The runs under ``paths``, found again on each :meth:`scan` (module docstring)."""

    def __init__(
        self,
        paths: Iterable[str | os.PathLike],
        max_depth: int = MAX_DEPTH,
        max_dirs: int = MAX_DIRS,
    ) -> None:
        self.paths = [Path(p) for p in paths]
        self.max_depth = max_depth
        self.max_dirs = max_dirs
        self.sources: list[RunSource] = []
        self._keys: set[tuple[str, Path]] = set()
        self._names: set[str] = set()
        self.missing: list[Path] = []  # PATHs that do not exist (at the last scan)

    def scan(self) -> list[RunSource]:
        """Look again; return the runs not seen before (also appended to ``sources``)."""
        new: list[RunSource] = []
        self.missing = []
        budget = [self.max_dirs]
        for root in self.paths:
            for kind, path, name in self._found(root, budget):
                key = (kind, path.resolve())
                if key in self._keys:
                    continue
                self._keys.add(key)
                if name in self._names:
                    name = f"{root.name or root}/{name}"
                k = 2
                base = name
                while name in self._names:  # still taken: number it
                    name, k = f"{base} ({k})", k + 1
                self._names.add(name)
                src = _source(kind, path, name)
                new.append(src)
        self.sources.extend(new)
        return new

    def _found(self, root: Path, budget: list[int]) -> Iterator[tuple[str, Path, str]]:
        if root.is_file():
            if is_event_file(root.name):
                yield "tensorboard", root, root.name
            elif root.name == METRICS_CSV:
                yield "lightning", root.parent, root.parent.name or str(root.parent)
            elif root.name in (METRICS, STATUS):
                yield "dltui", root.parent, root.parent.name or str(root.parent)
            return
        if not root.is_dir():
            self.missing.append(root)
            return
        own = root.resolve().name or str(root)
        for folder, kinds in _walk(root, self.max_depth, budget):
            rel = folder.relative_to(root).as_posix()
            name = own if rel == "." else rel
            for kind in kinds:
                yield kind, folder, name


def discover(paths: Iterable[str | os.PathLike] | str | os.PathLike) -> list[RunSource]:
    """Every run under ``paths`` (a path or several), once (module docstring)."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    return Discovery(paths).scan()
