"""Lightning's ``CSVLogger`` output (``metrics.csv``, ``hparams.yaml``) as a :class:`RunSource`.

What the format does, and what this reader does about it:

- Columns are sparse: one row per ``log_metrics`` call, cells empty for the metrics not
  logged then. Every non-empty cell of a column other than ``step`` / ``epoch`` is a
  point of the tag named by the column; ``epoch`` is a tag too (Lightning logs it as a
  metric). ``step`` is the x value; a file without that column uses the row number.
- When a new key appears Lightning REWRITES the file from the start (new header, the
  old rows, then the new rows). A rewrite is seen as the file shrinking, its header
  changing or its inode changing; the file is then read again from the start and only
  the rows beyond those already emitted give points (old rows keep their values: the
  new column is empty in them).
- A last line without its newline is a write in progress: it is left for the next poll.
- The format has no wall time. A row's time is when this reader first saw it (the
  file's modification time for the rows present at the first read), so an x axis of
  wall time still orders runs sensibly.

``hparams.yaml`` is read only when it is flat ``key: value`` lines with plain scalar
values (what ``save_hyperparameters`` writes for simple arguments); anything else
(nesting, lists, tags such as ``!!python/object``) is skipped rather than parsed
without a YAML library.
"""

from __future__ import annotations

import csv
import io
import math
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from tui.core.train.sources.base import RunSource, Scalars, newest_mtime

__all__ = ["LightningSource", "read_flat_yaml"]

METRICS_CSV = "metrics.csv"
HPARAMS = "hparams.yaml"
_MAX_BYTES = 64 << 20


def read_flat_yaml(path: str | os.PathLike) -> dict[str, Any] | None:
    """A flat ``key: value`` YAML file as a dict of str / int / float / bool / None, or
    None when missing, unreadable or not that simple."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    out: dict[str, Any] = {}
    for line in text.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if line[0] in " \t-" or ":" not in line:
            return None  # nested mapping, list or continuation: not trivial
        key, _, raw = line.partition(":")
        raw = raw.strip()
        if raw == "" or raw[0] in "!&*[{|>":
            return None
        out[key.strip().strip("'\"")] = _scalar(raw)
    return out


def _scalar(raw: str) -> Any:
    if len(raw) >= 2 and raw[0] == raw[-1] and raw[0] in "'\"":
        return raw[1:-1]
    low = raw.lower()
    if low in ("null", "~"):
        return None
    if low in ("true", "false"):
        return low == "true"
    for conv in (int, float):
        try:
            return conv(raw)
        except ValueError:
            pass
    return raw


def _float(cell: str) -> float | None:
    if not cell:
        return None
    try:
        return float(cell)
    except ValueError:
        low = cell.strip().lower()
        return math.nan if low in ("nan", "inf", "-inf") else None


class LightningSource(RunSource):
    """A Lightning ``CSVLogger`` version folder (or its ``metrics.csv``)."""

    kind = "lightning"

    def __init__(self, path: str | os.PathLike, name: str | None = None) -> None:
        path = Path(path)
        if path.name == METRICS_CSV:
            path = path.parent
        super().__init__(path, name)
        self.csv_path = self.path / METRICS_CSV
        self.hparams: dict[str, Any] | None = read_flat_yaml(self.path / HPARAMS)
        self._offset = 0  # bytes consumed (complete lines)
        self._header: bytes | None = None  # the header line, as read
        self._columns: list[str] = []
        self._ino: int | None = None
        self._rows_in_file = 0  # data rows consumed since the file's start
        self._rows_emitted = 0  # data rows already turned into points (across rewrites)
        self._first_read = True
        self.skipped = 0

    def poll(self) -> dict[str, Scalars]:
        try:
            return self._note(self._poll())
        except (OSError, ValueError, csv.Error) as exc:
            self.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            return {}

    def _poll(self) -> dict[str, Scalars]:
        try:
            st = os.stat(self.csv_path)
        except FileNotFoundError:
            return {}
        with open(self.csv_path, "rb") as fh:
            rewritten = st.st_ino != self._ino or st.st_size < self._offset
            if not rewritten and self._header is not None:
                rewritten = fh.read(len(self._header)) != self._header
            if rewritten:
                self._ino, self._offset, self._header, self._rows_in_file = st.st_ino, 0, None, 0
            if st.st_size == self._offset:
                return {}
            fh.seek(self._offset)
            data = fh.read(_MAX_BYTES)
        cut = data.rfind(b"\n")
        if cut < 0:
            return {}  # not one complete line yet
        data = data[: cut + 1]
        self._offset += len(data)
        now = st.st_mtime if self._first_read else time.time()
        self._first_read = False
        text = data.decode("utf-8", errors="replace")
        if self._header is None:
            first, _, text = text.partition("\n")
            self._header = (first + "\n").encode("utf-8")
            self._columns = next(csv.reader([first]), [])
        return self._rows(text, now)

    def _rows(self, text: str, now: float) -> dict[str, Scalars]:
        cols = self._columns
        step_col = cols.index("step") if "step" in cols else None
        lists: dict[str, tuple[list[int], list[float]]] = {}
        for row in csv.reader(io.StringIO(text)):
            if not row:
                continue
            self._rows_in_file += 1
            if self._rows_in_file <= self._rows_emitted:
                continue  # emitted before the file was rewritten
            self._rows_emitted = self._rows_in_file
            if len(row) != len(cols):
                self.skipped += 1
                continue
            if step_col is not None:
                s = _float(row[step_col])
                if s is None or not math.isfinite(s):
                    self.skipped += 1
                    continue
                step = int(s)
            else:
                step = self._rows_in_file - 1
            for i, (col, cell) in enumerate(zip(cols, row, strict=True)):
                if i == step_col:
                    continue
                v = _float(cell)
                if v is not None:
                    st, vl = lists.setdefault(col, ([], []))
                    st.append(step)
                    vl.append(v)
        self.error = f"{self.skipped} unreadable rows in {METRICS_CSV}" if self.skipped else None
        return {
            tag: Scalars(
                np.asarray(st, dtype=np.int64),
                np.full(len(st), now, dtype=np.float64),
                np.asarray(vl, dtype=np.float64),
            )
            for tag, (st, vl) in lists.items()
        }

    @property
    def last_update(self) -> float | None:
        return newest_mtime([self.csv_path])
