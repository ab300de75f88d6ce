"""Run directories: writing a training run to disk, and reading runs back.

Layout (one folder per run, under ``<workspace>/runs/`` unless given explicitly)::

    config.json          everything needed to run it again
    metrics.jsonl        one MetricPoint per line: {"step", "epoch", "time", "name", "value"}
    checkpoint-last.pt   {"model": state_dict, "optimizer": state_dict, "step", "epoch",
                          and the resume state: see tui.core.train.checkpoint}
    checkpoint-best.pt   the same, at the best validation loss
    model.py             the exported module code
    status.json          {"state": a RunState, "error", "updated", "pid", "host", ...}

Whole-file writes are atomic (a temporary file in the same folder, fsynced, then
``os.replace``), so a reader never sees half a config or half a checkpoint; temporary
files a killed writer left (``.checkpoint-last.pt.*.tmp``) are never read and are removed
when the run is resumed (:meth:`RunDir.remove_temp_files`). A write that fails (a full
disk, a read-only folder) raises :class:`RunWriteError`, naming the file in plain words.
``metrics.jsonl`` is appended through a buffer flushed at least once a second; a reader
that catches a line half written keeps the fragment and completes it on its next read
(:class:`MetricsReader`).
Non-finite metric values are written as ``null`` (JSON has no NaN) and read back as NaN.

Reading (``list_runs``, ``MetricsReader``, ``read_status``) needs no torch, so the
monitor can list runs before torch has loaded; only the checkpoint functions import it.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import re
import socket
import threading
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tui.core.atomic import atomic_file, remove_temp_files, write_bytes_atomic
from tui.core.train.config import RunState

# The readers live in readers.py (no torch, no writer state); re-exported here, where
# callers have always found them.
from tui.core.train.readers import (
    CONFIG,
    METRICS,
    STATUS,
    MetricsReader,
    RunInfo,
    list_runs,
    live_state,
    read_config,
    read_status,
)
from tui.core.train.series import MetricPoint

if TYPE_CHECKING:
    import torch

__all__ = [
    "CHECKPOINT_KINDS",
    "MetricsReader",
    "RunDir",
    "RunInfo",
    "RunWriteError",
    "cpu_copy",
    "list_runs",
    "live_state",
    "load_checkpoint",
    "read_config",
    "read_status",
]

CHECKPOINT_KINDS = ("last", "best")
MODEL_CODE = "model.py"
# Test hook (crash tests): when set to a file path, the first checkpoint write of the
# process that finds no file there creates it once the checkpoint's temporary file is
# written, then waits up to a minute before the rename, so that a test can kill -9 the
# writer inside the write. Never set it outside tests.
CHECKPOINT_PAUSE_ENV = "DLTUI_TEST_PAUSE_IN_CHECKPOINT"


class RunWriteError(OSError):
    """A run file could not be written; the message says which and what to do."""


_WRITE_ERRORS = {
    errno.ENOSPC: ("no space left on device", "free space or choose another --run-dir"),
    errno.EDQUOT: ("disk quota exceeded", "free space or choose another --run-dir"),
    errno.EROFS: ("the file system is read-only", "choose another --run-dir"),
    errno.EACCES: ("permission denied", "choose another --run-dir"),
    errno.EPERM: ("permission denied", "choose another --run-dir"),
}


def write_error(exc: OSError, name: str) -> RunWriteError:
    """``exc`` (raised writing run file ``name``) in plain words."""
    if isinstance(exc, RunWriteError):
        return exc
    what, hint = _WRITE_ERRORS.get(
        exc.errno or 0,
        (
            (exc.strerror or str(exc) or type(exc).__name__),
            "check the run folder or choose another --run-dir",
        ),
    )
    err = RunWriteError(f"{what[:1].lower()}{what[1:]} while writing {name}: {hint}")
    err.errno = exc.errno
    return err


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


class RunBusy(RuntimeError):
    """Another process writes this run directory now."""


def cpu_copy(obj: Any) -> Any:
    """``obj`` with every tensor inside dicts, lists and tuples replaced by a detached CPU
    copy (a CPU tensor is kept as it is)."""
    import torch

    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        out = type(obj)((k, cpu_copy(v)) for k, v in obj.items())
        meta = getattr(obj, "_metadata", None)  # a state_dict's module versions
        if meta is not None:
            out._metadata = meta  # type: ignore[attr-defined]
        return out
    if isinstance(obj, (list, tuple)) and not hasattr(obj, "_fields"):
        return type(obj)(cpu_copy(v) for v in obj)
    return obj


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
        self._writer_fd: int | None = None  # the folder's flock while we write

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
        run = cls(path)
        # Two processes given the same --run-dir at once: the second is refused.
        try:
            run.claim()
        except RunBusy as exc:
            raise FileExistsError(f"{path}: {exc}: choose another --run-dir") from None
        return run

    def claim(self) -> None:
        """Become the one writer of this run: an exclusive ``flock`` on the folder itself
        (no lock file to leave behind), held until :meth:`close`; the kernel drops it
        when the process dies, ``kill -9`` included. Two resumes of one run started
        together would otherwise both write.

        Raises:
            RunBusy: another process (or another RunDir here) writes this run now.
        """
        if self._writer_fd is not None:
            return
        try:
            import fcntl
        except ImportError:  # no flock on this platform: the status check must do
            return
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise RunBusy(
                f"run {self.path.name} is being written by another process right now"
            ) from None
        self._writer_fd = fd

    def _release(self) -> None:
        fd, self._writer_fd = self._writer_fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the descriptor drops the flock

    @property
    def name(self) -> str:
        return self.path.name

    # -- writing -------------------------------------------------------------------------

    def write_config(self, config: dict[str, Any]) -> None:
        """Write ``config.json`` (atomic)."""
        try:
            _atomic_write_json(self.path / CONFIG, config)
        except OSError as exc:
            raise write_error(exc, CONFIG) from exc

    def write_json(self, name: str, obj: Any) -> None:
        """Write ``name`` (a JSON file of the run's own, e.g. ``nan_report.json``; atomic)."""
        try:
            _atomic_write_json(self.path / name, obj)
        except OSError as exc:
            raise write_error(exc, name) from exc

    def write_model_code(self, code: str) -> None:
        """Write ``model.py`` (atomic)."""
        try:
            write_bytes_atomic(self.path / MODEL_CODE, code.encode("utf-8"))
        except OSError as exc:
            raise write_error(exc, MODEL_CODE) from exc

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
        try:
            _atomic_write_json(self.path / STATUS, status)
        except OSError as exc:
            # A full disk has no room for a temporary file, but the old status.json has
            # its blocks: overwriting it in place is not atomic, yet better than leaving
            # "running" behind (a torn status reads as unknown, never as a wrong state).
            full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
            if not (full and self._write_status_in_place(status)):
                raise write_error(exc, STATUS) from exc

    def _write_status_in_place(self, status: dict[str, Any]) -> bool:
        data = (json.dumps(_json_safe(status), allow_nan=False, default=str) + "\n").encode()
        try:
            with open(self.path / STATUS, "r+b") as fh:
                fh.write(data)
                fh.truncate()
                fh.flush()
                os.fsync(fh.fileno())
        except OSError:
            return False
        return True

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
            try:
                if self._metrics_fh is None:
                    self._metrics_fh = self._open_metrics()
                    self._last_flush = time.monotonic()
                self._metrics_fh.write("".join(lines))
                if time.monotonic() - self._last_flush >= self.flush_interval:
                    self._flush_locked()
            except OSError as exc:
                raise write_error(exc, METRICS) from exc

    def _open_metrics(self) -> Any:
        # One seam for the file (the full-disk tests replace it).
        return open(self.path / METRICS, "a", encoding="utf-8")

    def flush(self) -> None:
        """Push buffered metric lines to the file now."""
        with self._lock:
            try:
                self._flush_locked()
            except OSError as exc:
                raise write_error(exc, METRICS) from exc

    def _flush_locked(self) -> None:
        if self._metrics_fh is not None:
            self._metrics_fh.flush()
        self._last_flush = time.monotonic()

    def close(self, discard_on_error: bool = False) -> None:
        """Flush and close ``metrics.jsonl`` (appending again reopens it). With
        ``discard_on_error``, lines that cannot be written (a full disk) are dropped
        instead of raising: for a run that has failed already."""
        with self._lock:
            self._release()
            fh, self._metrics_fh = self._metrics_fh, None
            if fh is None:
                return
            try:
                fh.close()
            except OSError as exc:
                if not discard_on_error:
                    raise write_error(exc, METRICS) from exc

    def save_checkpoint(
        self,
        kind: str,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer | None,
        step: int,
        epoch: int,
        **extra: Any,
    ) -> Path:
        """Write ``checkpoint-<kind>.pt`` atomically, fsynced before the rename; returns
        its path. ``extra`` holds the trainer's resume state
        (:mod:`tui.core.train.checkpoint`).

        It holds plain state dicts, tensors, ints and floats only, so it loads back with
        ``torch.load(weights_only=True)``. Saved through a Python file object, so a full
        disk is an ``OSError`` (ENOSPC), not torch's "basic_ios::clear: iostream error".
        """
        import torch

        name = checkpoint_name(kind)
        path = self.path / name
        payload = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict() if optimizer is not None else None,
            "step": int(step),
            "epoch": int(epoch),
        }
        payload.update(extra)
        # CPU copies: a checkpoint written on a GPU then loads anywhere with the README's
        # plain torch.load(path, weights_only=True), no map_location needed.
        payload = cpu_copy(payload)
        try:
            with atomic_file(path) as fh:
                torch.save(payload, fh)
                _checkpoint_pause_hook(fh)
        except OSError as exc:
            raise write_error(exc, name) from exc
        return path

    def remove_temp_files(self) -> list[Path]:
        """Remove the temporary files of writes cut short (``kill -9`` during a
        checkpoint write); only while no process writes this run."""
        return remove_temp_files(self.path)

    def truncate_metrics(self, last_step: int) -> int:
        """Cut ``metrics.jsonl`` back to the points of steps up to ``last_step`` (and a
        torn last line), for a run resumed from its checkpoint at that step: the points
        logged after it are logged again by the resumed run, once. Returns the number of
        bytes cut.

        The trainer appends in step order, so what goes is a tail: it is found by reading
        backwards from the end (the cost is that of the tail only) and cut with one
        ``truncate``, which readers see as the file getting shorter (they start again).
        """
        target = self.path / METRICS
        with self._lock:
            try:
                with open(target, "r+b") as fh:
                    size = fh.seek(0, os.SEEK_END)
                    keep = _metrics_keep_offset(fh, size, last_step)
                    if keep < size:
                        fh.truncate(keep)
                        fh.flush()
                        os.fsync(fh.fileno())
                    return size - keep
            except FileNotFoundError:
                return 0
            except OSError as exc:
                raise write_error(exc, METRICS) from exc


def _metrics_keep_offset(fh: Any, size: int, last_step: int, block: int = 1 << 16) -> int:
    """The end of the last complete line whose step is at most ``last_step``, scanning
    ``fh`` backwards from ``size``. Lines after it go: later steps, a torn last line, and
    lines that do not parse."""
    pos = size  # bytes before pos are not read yet
    tail = b""  # bytes [pos, end) read and not judged yet; end = pos + len(tail)
    while pos + len(tail) > 0:
        # The newline that ends the line before the last one in ``tail``.
        nl = tail.rfind(b"\n", 0, max(0, len(tail) - 1))
        if nl < 0 and pos > 0:
            start = max(0, pos - block)
            fh.seek(start)
            tail = fh.read(pos - start) + tail
            pos = start
            continue
        line = tail[nl + 1 :]
        if line.endswith(b"\n"):
            step = _line_step(line)
            if step is not None and step <= last_step:
                return pos + len(tail)
        tail = tail[: nl + 1]
    return 0


def _line_step(line: bytes) -> int | None:
    try:
        step = json.loads(line).get("step")
    except (ValueError, AttributeError):
        return None
    return step if isinstance(step, int) and not isinstance(step, bool) else None


def _checkpoint_pause_hook(fh: Any) -> None:
    """The crash tests' pause inside a checkpoint write (see ``CHECKPOINT_PAUSE_ENV``)."""
    marker = os.environ.get(CHECKPOINT_PAUSE_ENV)
    if not marker or os.path.exists(marker):
        return
    fh.flush()  # the temporary file holds the data, as a write cut short would
    with open(marker, "w") as out:
        out.write(str(os.getpid()))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        time.sleep(0.05)


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
