"""A small logger for a user's own training script, writing dltui's run-directory format.

For a script that logs nothing yet: a few lines make its run show in ``dltui watch``
with status and progress like a run dltui trains itself::

    from tui.core.train.logger import open_run     # or: from tui.logger import open_run

    with open_run("runs/exp1", config={"lr": 1e-3, "batch_size": 64}) as run:
        for step in range(1, 1001):
            loss = train_step()
            run.log(step, **{"train/loss": loss})
            if step % 100 == 0:
                run.log_dict(step, {"val/loss": val_loss(), "val/accuracy": acc}, epoch=2)

- ``status.json`` says ``running`` from the start (with the last step, refreshed at
  most every :data:`STATUS_INTERVAL` seconds), ``finished`` when the ``with`` block
  ends normally, ``failed`` with the exception's line when it raises, ``stopped`` on
  ctrl+c. Without ``with``, call :meth:`Run.close` (``close(error=...)`` for a failure);
  a script that exits without closing is marked finished at interpreter exit, and one
  killed outright shows ``died`` (readers check the writer's process).
- ``metrics.jsonl`` gets one line per value, flushed at least once a second
  (:class:`~tui.core.train.runs.RunDir` does that; ``close`` flushes the rest).
- ``config.json`` holds the given hyperparameters and when and how the run was made.

A folder that already holds a run is not overwritten: the run goes to ``exp1-2``,
``exp1-3``, ... (``run.path`` says where).
"""

from __future__ import annotations

import atexit
import math
import os
import platform
import sys
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from tui.core.train.config import RunState
from tui.core.train.runs import RunDir
from tui.core.train.series import MetricPoint

__all__ = ["STATUS_INTERVAL", "Run", "open_run"]

STATUS_INTERVAL = 2.0


def _free_folder(path: Path) -> Path:
    """``path`` if it can take a new run, else the first free ``path-2``, ``path-3``...
    Created with ``mkdir`` (which fails on an existing folder), so two scripts started
    together never share one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for i in range(1, 10_000):
        cand = path if i == 1 else path.with_name(f"{path.name}-{i}")
        try:
            cand.mkdir()
            return cand
        except FileExistsError:
            if cand.is_dir() and not any(cand.iterdir()):
                return cand  # an empty folder the user made for it
        except NotADirectoryError:
            continue
    raise RuntimeError(f"no free run folder next to {path}")


def _number(value: Any) -> float:
    """A float from a Python / NumPy number or a one-element tensor (``float()`` calls
    ``.item()``), NaN for what is not a number."""
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError):
        return math.nan


class Run:
    """An open run (see :func:`open_run`). Thread-safe: ``log`` may be called from
    several threads."""

    def __init__(self, run_dir: RunDir, config: dict[str, Any] | None) -> None:
        self._dir = run_dir
        self.path = run_dir.path
        self.step = 0
        self.epoch = 0
        self.closed = False
        self._lock = threading.Lock()
        self._last_status = 0.0
        self._started = time.time()
        run_dir.write_config(
            {
                "config": dict(config or {}),
                "created": self._started,
                "source": "tui.core.train.logger",
                "argv": list(sys.argv),
                "versions": _versions(),
            }
        )
        self._status(RunState.RUNNING)
        atexit.register(self._at_exit)
        # RunDir flushes when a later append finds the last flush a second old; a script
        # that logs once and then computes for minutes needs a timer for that. Daemon:
        # it must never keep a user's script alive, and it touches only a file.
        self._dirty = False
        self._wake = threading.Event()
        self._flusher = threading.Thread(
            target=self._flush_loop,
            args=(run_dir.flush_interval,),
            daemon=True,
            name=f"dltui-logger-flush:{self.path.name}",
        )
        self._flusher.start()

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, step={self.step}, closed={self.closed})"

    def log(self, step: int, /, epoch: int | None = None, **metrics: Any) -> None:
        """Record ``metrics`` (name -> number) at ``step``. Names with ``/`` go through
        ``**{"train/loss": v}`` or :meth:`log_dict`."""
        self.log_dict(step, metrics, epoch=epoch)

    def log_dict(self, step: int, metrics: dict[str, Any], epoch: int | None = None) -> None:
        """Record every ``name: value`` of ``metrics`` at ``step`` (and ``epoch``, kept
        from the previous call when not given)."""
        if self.closed:
            raise RuntimeError(f"run {self.path} is closed")
        now = time.time()
        with self._lock:
            self.step = int(step)
            if epoch is not None:
                self.epoch = int(epoch)
            points = [
                MetricPoint(self.step, self.epoch, now, str(name), _number(value))
                for name, value in metrics.items()
            ]
            self._dir.append_metrics(points)
            self._dirty = True
            if now - self._last_status >= STATUS_INTERVAL:
                self._status(RunState.RUNNING)

    def close(self, error: str | BaseException | None = None) -> None:
        """Flush and mark the run finished, or failed with ``error`` (a message or an
        exception; a KeyboardInterrupt marks it stopped). Closing twice does nothing."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            atexit.unregister(self._at_exit)
            self._wake.set()
            self._dir.flush()
            self._dir.close()
            if error is None:
                self._status(RunState.FINISHED)
            elif isinstance(error, KeyboardInterrupt):
                self._status(RunState.STOPPED, "interrupted")
            else:
                self._status(RunState.FAILED, _error_line(error))

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close(exc)

    def _status(self, state: RunState, error: str | None = None) -> None:
        self._last_status = time.time()
        self._dir.write_status(
            state, error, step=self.step, epoch=self.epoch, started=self._started
        )

    def _flush_loop(self, interval: float) -> None:
        while not self._wake.wait(interval):
            if self._dirty:
                with self._lock:
                    if self.closed:
                        return
                    self._dirty = False
                    self._dir.flush()

    def _at_exit(self) -> None:
        self.close()


def _error_line(error: str | BaseException) -> str:
    if isinstance(error, BaseException):
        text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    else:
        text = str(error)
    lines = text.strip().splitlines()
    return lines[0][:500] if lines else "error"


def _versions() -> dict[str, str | None]:
    """dltui and Python versions, and torch's when the script imported it (the logger
    must not pay ``import torch`` itself)."""
    from tui import __version__

    torch = sys.modules.get("torch")
    return {
        "dltui": __version__,
        "python": platform.python_version(),
        "torch": getattr(torch, "__version__", None),
    }


def open_run(
    path: str | os.PathLike, config: dict[str, Any] | None = None, flush_interval: float = 1.0
) -> Run:
    """Open a new run in the folder ``path`` (module docstring); use it as a context
    manager or call :meth:`Run.close`."""
    folder = _free_folder(Path(path))
    return Run(RunDir(folder, flush_interval=flush_interval), config)
