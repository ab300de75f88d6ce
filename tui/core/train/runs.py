"""Run directories: writing a training run to disk, and reading runs back.

Layout (one folder per run, under ``<workspace>/runs/`` unless given explicitly)::

    config.json          everything needed to run it again
    metrics.jsonl        one MetricPoint per line: {"step", "epoch", "time", "name", "value"}
    checkpoint-last.pt   {"model": state_dict, "optimizer": state_dict, "step", "epoch"}
    checkpoint-best.pt   the same, at the best validation loss
    model.py             the exported module code
    status.json          {"state": a RunState, "error", "updated", "pid", "host", ...}

Whole-file writes are atomic (a temporary file in the same folder, then ``os.replace``),
so a reader never sees half a config or half a checkpoint. ``metrics.jsonl`` is appended
through a buffer flushed at least once a second; a reader that catches a line half
written keeps the fragment and completes it on its next read (:class:`MetricsReader`).
Non-finite metric values are written as ``null`` (JSON has no NaN) and read back as NaN.

Reading (``list_runs``, ``MetricsReader``, ``read_status``) needs no torch, so the
monitor can list runs before torch has loaded; only the checkpoint functions import it.
"""

from __future__ import annotations

import json
import math
import os
import re
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.core.atomic import atomic_path, write_bytes_atomic
from tui.core.train.config import RunState
from tui.core.train.series import MetricPoint

if TYPE_CHECKING:
    import torch

__all__ = [
    "CHECKPOINT_KINDS",
    "MetricsReader",
    "RunDir",
    "RunInfo",
    "list_runs",
    "live_state",
    "load_checkpoint",
    "read_config",
    "read_status",
]

CHECKPOINT_KINDS = ("last", "best")
CONFIG = "config.json"
METRICS = "metrics.jsonl"
STATUS = "status.json"
MODEL_CODE = "model.py"


def environment_versions() -> dict[str, str | None]:
    """What a run's config.json records to tell how it was made (dltui, torch, Python, CUDA)."""
    import platform

    import torch

    from tui import __version__

    return {
        "dltui": __version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "cuda": torch.version.cuda,
    }


def checkpoint_name(kind: str) -> str:
    if kind not in CHECKPOINT_KINDS:
        raise ValueError(f"checkpoint kind must be 'last' or 'best', not {kind!r}")
    return f"checkpoint-{kind}.pt"


def _json_safe(value: Any) -> Any:
    """NaN and Inf as null: JSON has no such numbers and strict readers (jq) reject them."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _atomic_write_json(path: Path, obj: Any) -> None:
    text = json.dumps(_json_safe(obj), indent=2, allow_nan=False, default=str) + "\n"
    write_bytes_atomic(path, text.encode("utf-8"))


_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def _slug(text: str) -> str:
    return _SLUG.sub("-", text).strip("-.")[:40]


class RunDir:
    """A run directory being written by one training run.

    Create one with :meth:`create` (a new, uniquely named folder under
    ``<workspace>/runs``) or :meth:`at` (a folder the user named). Metric appends are
    thread-safe; the other writes are atomic replacements.
    """

    def __init__(self, path: str | os.PathLike, flush_interval: float = 1.0) -> None:
        self.path = Path(path)
        self.flush_interval = flush_interval
        self._metrics_fh: Any = None
        self._last_flush = 0.0
        self._lock = threading.Lock()

    # -- creation ------------------------------------------------------------------------

    @classmethod
    def create(
        cls, workspace: str | os.PathLike, name: str | None = None, label: str = ""
    ) -> RunDir:
        """A new folder ``<workspace>/runs/<name>``.

        The default name is the local time and ``label``, such as
        ``2026-11-28_101530-spirals-mlp``. A name already taken gets ``-2``, ``-3``, ...
        (the folder is created with ``mkdir``, which fails on an existing folder, so two
        processes starting together cannot share one).
        """
        runs = Path(workspace) / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        if name is None:
            base = datetime.now().strftime("%Y-%m-%d_%H%M%S")
            if label and _slug(label):
                base += "-" + _slug(label)
        else:
            base = _slug(name)
            if not base:
                raise ValueError(f"{name!r} cannot be a run name")
        for i in range(1, 10_000):
            path = runs / (base if i == 1 else f"{base}-{i}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return cls(path)
        raise RuntimeError(f"no free run name under {runs} for {base}")

    @classmethod
    def at(cls, path: str | os.PathLike) -> RunDir:
        """The folder ``path`` (created if missing). Refuses one that already holds a run."""
        path = Path(path)
        if (path / CONFIG).exists() or (path / METRICS).exists():
            raise FileExistsError(f"{path} already holds a run: choose another --run-dir")
        if path.exists() and not path.is_dir():
            raise FileExistsError(f"{path} is a file, not a folder")
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    @property
    def name(self) -> str:
        return self.path.name

    # -- writing -------------------------------------------------------------------------

    def write_config(self, config: dict[str, Any]) -> None:
        """Write ``config.json`` (atomic)."""
        _atomic_write_json(self.path / CONFIG, config)

    def write_model_code(self, code: str) -> None:
        """Write ``model.py`` (atomic)."""
        write_bytes_atomic(self.path / MODEL_CODE, code.encode("utf-8"))

    def write_status(self, state: RunState | str, error: str | None = None, **extra: Any) -> None:
        """Write ``status.json`` (atomic): the state, the error if any, and ``extra`` fields
        (the trainer adds step, epoch, best_val_loss, ...). Only the states a writer
        knows (running, paused, finished, failed, stopped) are accepted."""
        parsed = RunState.parse(state)
        if not parsed.written:
            names = ", ".join(s.value for s in RunState if s.written)
            raise ValueError(f"state must be one of {names}, not {state!r}")
        status = {
            "state": parsed.value,
            "error": error,
            "updated": time.time(),
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        status.update(extra)
        _atomic_write_json(self.path / STATUS, status)

    def append_metrics(self, records: Iterable[MetricPoint | dict[str, Any]]) -> None:
        """Append points to ``metrics.jsonl``; the file is flushed when the last flush is
        ``flush_interval`` seconds old (call :meth:`flush` when no more points come)."""
        lines = []
        for rec in records:
            d = rec.to_dict() if isinstance(rec, MetricPoint) else dict(rec)
            v = d.get("value")
            if isinstance(v, float) and not math.isfinite(v):
                d["value"] = None
            lines.append(json.dumps(d, allow_nan=False, separators=(",", ":")) + "\n")
        if not lines:
            return
        with self._lock:
            if self._metrics_fh is None:
                self._metrics_fh = open(self.path / METRICS, "a", encoding="utf-8")  # noqa: SIM115
                self._last_flush = time.monotonic()
            self._metrics_fh.write("".join(lines))
            if time.monotonic() - self._last_flush >= self.flush_interval:
                self._flush_locked()

    def flush(self) -> None:
        """Push buffered metric lines to the file now."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._metrics_fh is not None:
            self._metrics_fh.flush()
        self._last_flush = time.monotonic()

    def close(self) -> None:
        """Flush and close ``metrics.jsonl`` (appending again reopens it)."""
        with self._lock:
            if self._metrics_fh is not None:
                self._metrics_fh.close()
                self._metrics_fh = None

    def save_checkpoint(
        self,
        kind: str,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None,
        step: int,
        epoch: int,
        **extra: Any,
    ) -> Path:
        """Write ``checkpoint-<kind>.pt`` atomically; returns its path.

        It holds plain state dicts, ints and floats only, so it loads back with
        ``torch.load(weights_only=True)``.
        """
        import torch

        path = self.path / checkpoint_name(kind)
        payload = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "step": int(step),
            "epoch": int(epoch),
        }
        payload.update(extra)
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return path


# ---------------------------------------------------------------------------------------
# reading


def load_checkpoint(path: str | os.PathLike, map_location: Any = "cpu") -> dict[str, Any]:
    """Load a checkpoint (a run folder means its ``checkpoint-last.pt``) with
    ``weights_only=True``: no code in the file can run."""
    import torch

    path = Path(path)
    if path.is_dir():
        path = path / checkpoint_name("last")
    return torch.load(path, map_location=map_location, weights_only=True)


def read_status(path: str | os.PathLike) -> dict[str, Any] | None:
    """``status.json`` of a run folder (or the file itself), or None when missing/unreadable."""
    return _read_json(Path(path), STATUS)


def read_config(path: str | os.PathLike) -> dict[str, Any] | None:
    """``config.json`` of a run folder (or the file itself), or None when missing/unreadable."""
    return _read_json(Path(path), CONFIG)


def _read_json(path: Path, default_name: str) -> dict[str, Any] | None:
    if path.is_dir():
        path = path / default_name
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _point_from_dict(d: Any) -> MetricPoint | None:
    if not isinstance(d, dict):
        return None
    try:
        value = d.get("value")
        return MetricPoint(
            step=int(d["step"]),
            epoch=int(d.get("epoch", 0)),
            time=float(d.get("time", 0.0)),
            name=str(d["name"]),
            value=math.nan if value is None else float(value),
        )
    except (KeyError, TypeError, ValueError):
        return None


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
        self.path = path / METRICS if path.is_dir() else path
        self.offset = 0
        self.skipped = 0
        self._partial = b""

    def read(self, max_bytes: int | None = None) -> list[MetricPoint]:
        """New complete points (at most ``max_bytes`` of the file per call, if given)."""
        try:
            size = os.path.getsize(self.path)
        except OSError:
            return []
        if size < self.offset:
            self.offset, self._partial = 0, b""
        if size == self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read(max_bytes if max_bytes is not None else -1)
        self.offset += len(chunk)
        data = self._partial + chunk
        cut = data.rfind(b"\n")
        if cut < 0:
            self._partial = data
            return []
        self._partial = data[cut + 1 :]
        points = []
        for line in data[:cut].split(b"\n"):
            if not line.strip():
                continue
            try:
                p = _point_from_dict(json.loads(line))
            except ValueError:
                p = None
            if p is None:
                self.skipped += 1
            else:
                points.append(p)
        return points

    def read_all(self) -> list[MetricPoint]:
        """Every point from the start of the file (resets the reader)."""
        self.offset, self._partial, self.skipped = 0, b"", 0
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
    loss); only for a run whose status lacks them is ``metrics.jsonl`` scanned.
    """
    runs = Path(workspace) / "runs"
    if not runs.is_dir():
        return []
    out = []
    for path in runs.iterdir():
        if not path.is_dir() or not any((path / f).exists() for f in (CONFIG, STATUS, METRICS)):
            continue
        status = read_status(path) or {}
        config = read_config(path) or {}
        last_step = status.get("step")
        best = status.get("best_val_loss")
        if last_step is None or ("best_val_loss" not in status):
            last_step, best = _scan_metrics(path, last_step, best)
        started = config.get("created") or status.get("started")
        if started is None:
            try:
                started = (path / CONFIG).stat().st_mtime
            except OSError:
                started = None
        out.append(
            RunInfo(
                name=path.name,
                path=path,
                status=live_state(status),
                started=float(started) if isinstance(started, (int, float)) else None,
                updated=status.get("updated"),
                last_step=int(last_step) if last_step is not None else None,
                best_val_loss=float(best) if best is not None else None,
                error=status.get("error"),
            )
        )
    out.sort(key=lambda r: (r.started or 0.0, r.name), reverse=True)
    return out


def live_state(status: dict[str, Any] | None) -> RunState:
    """The state of a ``status.json`` (as :func:`read_status` returns it), with an active
    state checked against the writer's process: every reader calls this, so a run is
    DIED to all of them alike.

    A run killed outright (kill -9, a lost machine) leaves "running" behind. When the
    status was written on this host by a process that no longer exists, say so.
    """
    if not status:
        return RunState.UNKNOWN
    state = RunState.parse(status.get("state"))
    pid = status.get("pid")
    if not state.active or not isinstance(pid, int) or status.get("host") != socket.gethostname():
        return state
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return RunState.DIED
    except OSError:
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
