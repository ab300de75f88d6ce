"""Reading run directories back: metrics, status, config, the list of runs, a run's state.

Every reader of a dltui run (the monitor, ``dltui watch``, ``--resume``, the sources of
``tui.core.train.sources``) goes through these, so they agree: a run whose writer process
is gone is DIED to all of them (:func:`live_state`). Run files may be hand-edited,
truncated, huge, or written by another tool: the readers never raise on them. A metric
line that is not a valid point is skipped and counted (:attr:`MetricsReader.skipped`);
a status field of the wrong type or out of range is dropped (:func:`read_status`); a run
whose files cannot be read is still listed (:func:`list_runs`). The writer side is
``runs.py``. Needs no torch, so the monitor can list runs before torch has loaded.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from tui.core.train.config import RunState
from tui.core.train.series import MetricPoint

__all__ = [
    "CONFIG",
    "METRICS",
    "STATUS",
    "MetricsReader",
    "RunInfo",
    "list_runs",
    "live_state",
    "read_config",
    "read_status",
]

CONFIG = "config.json"
METRICS = "metrics.jsonl"
STATUS = "status.json"

# What a reader accepts. Run files may be hand-edited, truncated, or written by another
# tool: readers never raise on them, they keep what can be read and drop the rest.
MAX_STATUS_BYTES = 1 << 20  # a status is a few hundred bytes
MAX_CONFIG_BYTES = 64 << 20  # a config holds a spec: big stacks are still far below this
MAX_LINE_BYTES = 1 << 16  # a metric line is ~100 bytes; longer ones are skipped unparsed
_MAX_INT = 2**63 - 1
_MAX_PID = 2**31 - 1  # pid_t; a bigger "pid" (2**70) would make os.kill overflow
_MAX_TEXT = 2_000  # an error message shown in the runs list and the watch line

# status.json fields the readers use, each with what makes a value usable.
_STATUS_INTS = ("step", "epoch", "epochs", "steps_per_epoch", "pid")
_STATUS_FLOATS = (
    "updated",
    "started",
    "train_loss",
    "epoch_train_loss",
    "val_loss",
    "best_val_loss",
    "val_accuracy",
)


def read_status(path: str | os.PathLike) -> dict[str, Any] | None:
    """``status.json`` of a run folder (or the file itself), or None when missing/unreadable.

    The fields readers use are sanitised: a field of the wrong type or out of range
    (``"step": "abc"``, ``Infinity``, ``[1]``, a 2**70 pid) is dropped, a state that is
    not a string becomes missing, an error is cut to a bounded string; other fields are
    kept as they are.
    """
    data = _read_json(Path(path), STATUS, MAX_STATUS_BYTES)
    return None if data is None else _sanitise_status(data)


def read_config(path: str | os.PathLike) -> dict[str, Any] | None:
    """``config.json`` of a run folder (or the file itself), or None when missing/unreadable."""
    return _read_json(Path(path), CONFIG, MAX_CONFIG_BYTES)


def _read_json(path: Path, default_name: str, limit: int) -> dict[str, Any] | None:
    try:
        if path.is_dir():
            path = path / default_name
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
        if len(raw) > limit:
            return None  # not a file dltui wrote: refuse rather than parse without bound
        data = json.loads(raw)
    except (OSError, ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        return None
    return data if isinstance(data, dict) else None


def _int_or_none(v: Any, low: int = -_MAX_INT, high: int = _MAX_INT) -> int | None:
    """``v`` as an int when it is one (or a whole finite float) within ``[low, high]``."""
    if isinstance(v, bool):
        return None
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        v = int(v)
    if isinstance(v, int) and low <= v <= high:
        return v
    return None


def _float_or_none(v: Any, finite: bool = True) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    try:
        f = float(v)
    except OverflowError:  # an int of 400 digits
        return None
    return f if math.isfinite(f) or not finite else None


def _sanitise_status(data: dict[str, Any]) -> dict[str, Any]:
    out = dict(data)
    if not isinstance(out.get("state"), str):
        out.pop("state", None)
    for key in _STATUS_INTS:
        if key in out:
            low = 1 if key in ("pid", "steps_per_epoch") else 0
            value = _int_or_none(out[key], low, _MAX_PID if key == "pid" else _MAX_INT)
            if value is None:
                del out[key]
            else:
                out[key] = value
    for key in _STATUS_FLOATS:
        if key in out:
            value = _float_or_none(out[key])
            if value is None and out[key] is not None:
                del out[key]
            else:
                out[key] = value
    error = out.get("error")
    if error is not None:
        text = error if isinstance(error, str) else repr(error)
        out["error"] = text[:_MAX_TEXT]
    if not isinstance(out.get("host"), str):
        out.pop("host", None)
    return out


def _point_from_dict(d: Any) -> MetricPoint | None:
    """A metric line's point, or None when it is not one: a step that is not a whole
    number in range (``1e400``, ``"abc"``, ``Infinity``, ``[1]``), a name that is not a
    string, a value that is not a number or null. Readers count those as skipped."""
    if not isinstance(d, dict):
        return None
    step = _int_or_none(d.get("step"))
    epoch = _int_or_none(d.get("epoch", 0))
    time_ = _float_or_none(d.get("time", 0.0))
    name = d.get("name")
    raw = d.get("value")
    value = math.nan if raw is None else _float_or_none(raw, finite=False)
    if step is None or epoch is None or time_ is None or value is None:
        return None
    if not isinstance(name, str) or not name or len(name) > 200:
        return None
    return MetricPoint(step=step, epoch=epoch, time=time_, name=name, value=value)


class MetricArrays(NamedTuple):
    """The points of one metric, in file order."""

    steps: np.ndarray  # int64
    times: np.ndarray  # float64
    values: np.ndarray  # float64 (NaN where the line had null)


# One line exactly as RunDir.append_metrics writes it (json.dumps, compact separators).
_FAST_LINE = re.compile(
    rb'^\{"step":(\d{1,18}),"epoch":\d{1,18}(?:\.0)?,"time":(-?[0-9][0-9.eE+-]*),'
    rb'"name":"([^"\\\n]{1,200})","value":(-?[0-9][0-9.eE+-]*|null)\}$',
    re.M,
)


def _numbers(column: tuple[bytes, ...]) -> np.ndarray:
    """Parse a column of number literals (ValueError unless each is one number)."""
    with warnings.catch_warnings():
        # Text it cannot read to its end is only a DeprecationWarning: make it an error.
        warnings.simplefilter("error", DeprecationWarning)
        try:
            out = np.fromstring(b" ".join(column), dtype=np.float64, sep=" ")
        except DeprecationWarning:
            raise ValueError("not a number") from None
    if out.size != len(column):
        raise ValueError("not a number")
    return out


def _fast_arrays(data: bytes) -> dict[str, MetricArrays] | None:
    """``data``'s lines as arrays per name, or None unless every line is in dltui's own
    compact form (then the caller reads them one by one)."""
    matches = _FAST_LINE.findall(data)
    if not matches or len(matches) != data.count(b"\n") + 1:
        return None
    # The epoch is matched (a whole number, maybe written 1.0) but not kept: the arrays
    # are steps, times and values.
    steps_b, times_b, names_b, values_b = zip(*matches, strict=True)
    try:
        steps = np.array(steps_b).astype(np.int64)
        # One C-level parse of the joined column is faster than a cast of each bytes.
        times = _numbers(times_b)
        values = _numbers(tuple(b"nan" if v == b"null" else v for v in values_b))
    except ValueError:  # "1.2.3" matches the pattern and is no number
        return None
    if not np.isfinite(times).all():
        return None
    names = np.array(names_b)
    out: dict[str, MetricArrays] = {}
    uniq, inverse = np.unique(names, return_inverse=True)
    try:
        labels = [u.decode("utf-8") for u in uniq]
    except UnicodeDecodeError:
        return None
    if len(uniq) == 1:
        return {labels[0]: MetricArrays(steps, times, values)}
    order = np.argsort(inverse, kind="stable")  # each name's lines, in file order
    bounds = np.searchsorted(inverse[order], np.arange(len(uniq) + 1))
    for k, label in enumerate(labels):
        idx = order[bounds[k] : bounds[k + 1]]
        out[label] = MetricArrays(steps[idx], times[idx], values[idx])
    return out


class MetricsReader:
    """Follows a ``metrics.jsonl`` as another thread or process appends to it.

    Each :meth:`read` returns the points added since the previous one. It remembers its
    byte offset, so the cost is that of the new lines only; a last line without its
    newline yet (a write in progress) is kept and completed next time. A file that
    shrank (rewritten) is read again from the start. Lines that are not valid points are
    counted in ``skipped``.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        path = Path(path)
        try:
            self.path = path / METRICS if path.is_dir() else path
        except OSError:  # a name too long for the OS: read() finds nothing there
            self.path = path
        self.offset = 0
        self.skipped = 0
        self._partial = b""
        self._discarding = False

    def read(self, max_bytes: int | None = None) -> list[MetricPoint]:
        """New complete points (at most ``max_bytes`` of the file per call, if given)."""
        data = self._complete_lines(max_bytes)
        return self._parse(data) if data else []

    def read_arrays(self, max_bytes: int | None = None) -> dict[str, MetricArrays]:
        """New complete points as arrays per metric name: (steps, times, values).

        The lines dltui writes itself (``{"step":1,"epoch":1,"time":..,"name":"..",
        "value":..}``, compact, that key order) are read by one regular expression over
        the whole chunk and converted by NumPy: no Python object per point, ~10x faster
        than ``json.loads`` line by line (10^6 lines: seconds -> well under a second). A
        chunk with any other line (hand-written, torn, a blank) is read the careful
        way, line by line, with the same validation as :meth:`read`.
        """
        data = self._complete_lines(max_bytes)
        if not data:
            return {}
        arrays = _fast_arrays(data)
        if arrays is not None:
            return arrays
        by_name: dict[str, tuple[list[int], list[float], list[float]]] = {}
        for p in self._parse(data):
            st, tm, vl = by_name.setdefault(p.name, ([], [], []))
            st.append(p.step)
            tm.append(p.time)
            vl.append(p.value)
        return {
            name: MetricArrays(
                np.asarray(st, dtype=np.int64),
                np.asarray(tm, dtype=np.float64),
                np.asarray(vl, dtype=np.float64),
            )
            for name, (st, tm, vl) in by_name.items()
        }

    def _complete_lines(self, max_bytes: int | None) -> bytes:
        """The next complete lines of the file (without the last newline), b"" if none;
        a torn last line is kept for the next call."""
        try:
            size = os.path.getsize(self.path)
            if size < self.offset:
                self.offset, self._partial, self._discarding = 0, b"", False
            if size == self.offset:
                return b""
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                chunk = fh.read(max_bytes if max_bytes is not None else -1)
        except OSError:  # gone, unreadable, a folder named metrics.jsonl
            return b""
        self.offset += len(chunk)
        if self._discarding:
            # The rest of an over-long line, dropped (and counted) already.
            nl = chunk.find(b"\n")
            if nl < 0:
                return b""
            chunk, self._discarding = chunk[nl + 1 :], False
        data = self._partial + chunk
        cut = data.rfind(b"\n")
        self._partial = data[cut + 1 :]
        if len(self._partial) > MAX_LINE_BYTES:
            # No metric line is this long: drop the fragment, count it once, and drop
            # what follows up to the next newline, so memory stays bounded.
            self._partial, self._discarding = b"", True
            self.skipped += 1
        if cut < 0:
            return b""
        return data[:cut]

    def _parse(self, data: bytes) -> list[MetricPoint]:
        points = []
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            p = None
            if len(line) <= MAX_LINE_BYTES:
                try:
                    p = _point_from_dict(json.loads(line))
                except (ValueError, RecursionError):  # also UnicodeDecodeError
                    p = None
            if p is None:
                self.skipped += 1
            else:
                points.append(p)
        return points

    def read_all(self) -> list[MetricPoint]:
        """Every point from the start of the file (resets the reader)."""
        self.offset, self._partial, self.skipped, self._discarding = 0, b"", 0, False
        return self.read()


@dataclass(frozen=True)
class RunInfo:
    """One run as listed by :func:`list_runs`.

    ``status`` is the run's state as :func:`live_state` reads it (UNKNOWN when
    ``status.json`` is missing, DIED when its writer is gone); ``updated`` (the status
    file's last write) tells how stale it is. ``started`` is a UNIX time.
    """

    name: str
    path: Path
    status: RunState
    started: float | None
    updated: float | None
    last_step: int | None
    best_val_loss: float | None
    error: str | None = None


def list_runs(workspace: str | os.PathLike) -> list[RunInfo]:
    """The runs under ``<workspace>/runs``, newest first.

    Reads ``status.json`` (where the trainer keeps the step and the best validation
    loss); only for a run whose status lacks them is ``metrics.jsonl`` scanned. A run
    whose files are damaged is still listed, with what can be read (its state UNKNOWN
    when the status cannot be read): one bad run never hides the others.
    """
    runs = Path(workspace) / "runs"
    try:
        entries = sorted(runs.iterdir()) if runs.is_dir() else []
    except OSError:
        return []
    out = []
    for path in entries:
        try:
            if not path.is_dir() or not any((path / f).exists() for f in (CONFIG, STATUS, METRICS)):
                continue
            info = _run_info(path)
        except Exception:  # a reader's bug must not blind the list: show the name at least
            info = RunInfo(path.name, path, RunState.UNKNOWN, None, None, None, None)
        out.append(info)
    out.sort(key=lambda r: (r.started or 0.0, r.name), reverse=True)
    return out


def _run_info(path: Path) -> RunInfo:
    status = read_status(path) or {}
    config = read_config(path) or {}
    last_step = status.get("step")
    best = status.get("best_val_loss")
    if last_step is None or ("best_val_loss" not in status):
        last_step, best = _scan_metrics(path, last_step, best)
    started = _float_or_none(config.get("created")) or status.get("started")
    if started is None:
        try:
            started = (path / CONFIG).stat().st_mtime
        except OSError:
            started = None
    return RunInfo(
        name=path.name,
        path=path,
        status=live_state(status),
        started=started,
        updated=status.get("updated"),
        last_step=last_step,
        best_val_loss=best,
        error=status.get("error"),
    )


def live_state(status: dict[str, Any] | None) -> RunState:
    """The state of a ``status.json`` (as :func:`read_status` returns it), with an active
    state checked against the writer's process: every reader calls this, so a run is
    DIED to all of them alike.

    A run killed outright (kill -9, a lost machine) leaves "running" behind. When the
    status was written on this host by a process that no longer exists, say so.
    """
    if not status or not isinstance(status, dict):
        return RunState.UNKNOWN
    raw_state = status.get("state")
    state = RunState.parse(raw_state) if isinstance(raw_state, str) else RunState.UNKNOWN
    # Only a real pid is asked about: os.kill(0 or -1, 0) would ask about whole process
    # groups, and 2**70 overflows. A status without a usable pid keeps its state.
    pid = _int_or_none(status.get("pid"), 1, _MAX_PID)
    if not state.active or pid is None or status.get("host") != socket.gethostname():
        return state
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return RunState.DIED
    except (OSError, OverflowError, ValueError):
        pass  # exists but not ours (EPERM): still running
    return state


def _scan_metrics(
    path: Path, last_step: int | None, best: float | None
) -> tuple[int | None, float | None]:
    reader = MetricsReader(path)
    for p in reader.read():
        if last_step is None or p.step > last_step:
            last_step = p.step
        if p.name == "val/loss" and math.isfinite(p.value) and (best is None or p.value < best):
            best = p.value
    return last_step, best
