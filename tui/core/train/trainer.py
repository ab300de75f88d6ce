"""The training loop, in a background thread that a UI (or ``dltui train``) controls.

A :class:`Trainer` owns one run: ``start()`` launches a daemon thread; ``pause()``,
``resume()``, ``step_once()``, ``stop()`` and ``set_lr()`` are safe to call from any
thread and take effect at the next step boundary, so a step is never torn. The thread
reports in two ways, both cheap to poll:

- :attr:`Trainer.progress`: a :class:`TrainProgress` snapshot (epoch, step, throughput,
  ETA, losses, accuracy, learning rate, GPU memory);
- :attr:`Trainer.buffer`: a :class:`MetricBuffer` of :class:`MetricPoint` that the UI
  drains on its own timer (a few Hz), never one message per step. The points go to
  ``metrics.jsonl`` too when the trainer has a :class:`~tui.core.train.runs.RunDir`.

Each step's loss stays on the device (a detached tensor in a list) and is read back once
per ``flush_interval`` (0.25 s), in one transfer: on CUDA each ``.item()`` would be a
device synchronisation. CPU runs take the same path. Non-finite losses are caught at that
read-back, naming the first bad step.

A run ends ``finished``, ``stopped`` (on request; last checkpoint written) or ``failed``
(the reason in plain words in :attr:`Trainer.error` and ``status.json``; metrics so far
are flushed, the checkpoints of the last good epoch kept).

Typical use::

    trainer = Trainer(model, bundle.split(0.2, seed=0), TrainConfig(epochs=30), run_dir)
    trainer.start()
    ...                                  # a UI timer: trainer.buffer.drain(), trainer.progress
    trainer.join()
"""

from __future__ import annotations

import math
import os
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset, Subset, TensorDataset, default_collate

from tui.core.train.data import DataBundle, DataError, SampleError, check_compatible, fetch_sample
from tui.core.train.runs import RunDir
from tui.core.train.series import MetricPoint

__all__ = [
    "LOSSES",
    "OPTIMIZERS",
    "STATES",
    "MetricBuffer",
    "MetricPoint",
    "TrainConfig",
    "TrainProgress",
    "Trainer",
    "default_num_threads",
    "make_loss",
]

LOSSES = ("cross_entropy", "mse", "bce_with_logits", "l1")
OPTIMIZERS = ("sgd", "adam", "adamw")
STATES = ("idle", "running", "paused", "finished", "failed", "stopped")
_ENDED = ("finished", "failed", "stopped")


# ---------------------------------------------------------------------------------------
# configuration


@dataclass
class TrainConfig:
    """How to train. :meth:`validate` raises ``ValueError`` naming the bad field.

    ``num_threads=None`` picks :func:`default_num_threads`; ``grad_clip`` is a maximum
    gradient norm, or None for no clipping. ``val_split`` is used by callers that split
    a bundle without a validation set (the trainer itself trains on what it is given).
    """

    loss: str = "cross_entropy"
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 64
    epochs: int = 10
    val_split: float = 0.2
    seed: int = 0
    device: str = "cpu"
    grad_clip: float | None = None
    num_threads: int | None = None

    def validate(self) -> None:
        if self.loss not in LOSSES:
            raise ValueError(f"loss {self.loss!r} is not one of {', '.join(LOSSES)}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer {self.optimizer!r} is not one of {', '.join(OPTIMIZERS)}")
        for name in ("lr", "momentum", "weight_decay"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ValueError(f"{name} must be a finite number of 0 or more, not {v!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be above 0, not {self.lr!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise ValueError(f"batch size must be at least 1, not {self.batch_size!r}")
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ValueError(f"epochs must be at least 1, not {self.epochs!r}")
        if not (isinstance(self.val_split, (int, float)) and 0 <= self.val_split < 1):
            raise ValueError(f"val split must be at least 0 and below 1, not {self.val_split!r}")
        if self.grad_clip is not None and not (
            isinstance(self.grad_clip, (int, float)) and self.grad_clip > 0
        ):
            raise ValueError(f"grad clip must be above 0 (or None), not {self.grad_clip!r}")
        if self.num_threads is not None and (
            not isinstance(self.num_threads, int) or self.num_threads < 1
        ):
            raise ValueError(f"num threads must be at least 1, not {self.num_threads!r}")
        try:
            torch.device(self.device)
        except RuntimeError:
            raise ValueError(
                f"device {self.device!r} is not a device name (cpu, cuda, cuda:1, mps)"
            ) from None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_num_threads() -> int:
    """Intra-op threads for training: leave one core to the UI thread, use at most 8.

    Measured on a 2-core machine (small MLP 2-64-64-2 batch 32 / MLP 784-256-10 batch
    128, Adam, medians of 5 one-second runs, other processes sharing the cores):
    1 thread 223 / 58 steps/s, 2 threads 27 / 5 steps/s; with another thread spinning in
    Python 34 / 32 vs 5 / 4; with another thread busy in native code (GIL released)
    322 / 77 vs 48 / 6. Two threads on two cores lose 5-10x as soon as anything else
    wants a core (OpenMP workers wait on each other), so 2 cores get 1 thread.
    """
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus - 1, 8))


def make_loss(name: str) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """The loss function ``name`` as ``f(output, target) -> scalar``.

    ``bce_with_logits`` also accepts 0/1 class labels (int64, shape (B,)) against one
    logit per sample: the labels are turned into float targets of the output's shape.
    """
    if name == "cross_entropy":
        return F.cross_entropy
    if name == "mse":
        return F.mse_loss
    if name == "l1":
        return F.l1_loss
    if name == "bce_with_logits":

        def bce(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
            if not target.dtype.is_floating_point:
                target = target.to(output.dtype).reshape(output.shape)
            return F.binary_cross_entropy_with_logits(output, target)

        return bce
    raise ValueError(f"loss {name!r} is not one of {', '.join(LOSSES)}")


def _correct(output: torch.Tensor, target: torch.Tensor, loss: str) -> torch.Tensor | None:
    """Number of correct predictions in a batch (a device tensor), None for regression."""
    if target.dtype.is_floating_point:
        if loss != "bce_with_logits":
            return None
        # Multi-label targets: each sample counts by the fraction of its labels right.
        hits = ((output > 0) == (target > 0.5)).float()
        return hits.reshape(hits.shape[0], -1).mean(dim=1).sum()
    if loss == "cross_entropy":
        return (output.argmax(dim=1) == target).sum()
    if loss == "bce_with_logits":
        return ((output.reshape(target.shape) > 0).long() == target).sum()
    return None


# ---------------------------------------------------------------------------------------
# progress and metric buffer


@dataclass(frozen=True)
class TrainProgress:
    """A snapshot of a run, for a status line. Losses are None until first measured.

    ``epoch`` is the epoch being trained (from 1), ``epochs_done`` those completed
    (validated and checkpointed); ``step`` counts the optimizer steps done.
    ``samples_per_sec`` is smoothed over recent read-backs; ``eta_seconds`` assumes
    it holds. ``train_loss`` is the latest batch's loss, ``epoch_train_loss`` the mean
    over the last completed epoch. ``cuda_memory_*`` are bytes, None off CUDA.
    """

    state: str = "idle"
    epoch: int = 0
    epochs: int = 0
    epochs_done: int = 0
    step: int = 0
    steps_per_epoch: int = 0
    total_steps: int = 0
    samples_per_sec: float | None = None
    eta_seconds: float | None = None
    elapsed_seconds: float = 0.0
    train_loss: float | None = None
    best_train_loss: float | None = None
    epoch_train_loss: float | None = None
    val_loss: float | None = None
    best_val_loss: float | None = None
    val_accuracy: float | None = None
    best_val_accuracy: float | None = None
    lr: float | None = None
    cuda_memory_allocated: int | None = None
    cuda_memory_peak: int | None = None
    error: str | None = None


class MetricBuffer:
    """Thread-safe list of :class:`MetricPoint`: the trainer appends, the UI drains.

    Appends arrive in batches (one per read-back), so the lock is taken a few times a
    second. When nobody drains, at most ``max_points`` are kept (the oldest are dropped
    and counted in ``dropped``): a forgotten buffer cannot eat the machine's memory.
    """

    def __init__(self, max_points: int = 1_000_000) -> None:
        self._lock = threading.Lock()
        self._points: list[MetricPoint] = []
        self.max_points = max_points
        self.dropped = 0

    def append(self, point: MetricPoint) -> None:
        self.extend([point])

    def extend(self, points: list[MetricPoint]) -> None:
        with self._lock:
            self._points.extend(points)
            excess = len(self._points) - self.max_points
            if excess > 0:
                del self._points[:excess]
                self.dropped += excess

    def drain(self) -> list[MetricPoint]:
        """Every point added since the last drain, in order."""
        with self._lock:
            points, self._points = self._points, []
        return points

    def __len__(self) -> int:
        with self._lock:
            return len(self._points)


# ---------------------------------------------------------------------------------------
# batches


def _tensor_pair(ds: Dataset) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The (inputs, targets) tensors behind a TensorDataset or Subsets of one, else None."""
    if isinstance(ds, TensorDataset) and len(ds.tensors) == 2:
        return ds.tensors[0], ds.tensors[1]
    if isinstance(ds, Subset):
        inner = _tensor_pair(ds.dataset)
        if inner is not None:
            idx = torch.as_tensor(list(ds.indices), dtype=torch.int64)
            return inner[0][idx], inner[1][idx]
    return None


class _Batches:
    """Batches by index. Tensor-backed data is sliced directly (no per-sample Python and
    no collate: the loop's overhead on small sets), and moved to an accelerator once when
    it fits comfortably; any other Dataset is read sample by sample, so an error names
    the index that raised."""

    _DEVICE_COPY_LIMIT = 1 << 30

    def __init__(self, dataset: Dataset, device: torch.device) -> None:
        self.dataset = dataset
        self.device = device
        self.tensors = _tensor_pair(dataset)
        if self.tensors is not None and device.type != "cpu":
            x, y = self.tensors
            if (
                x.numel() * x.element_size() + y.numel() * y.element_size()
                < self._DEVICE_COPY_LIMIT
            ):
                self.tensors = (x.to(device), y.to(device))
        self.n = len(dataset)  # type: ignore[arg-type]
        # Index tensors live where the data does, so slicing needs no copy per batch.
        self.index_device = (
            self.tensors[0].device if self.tensors is not None else torch.device("cpu")
        )

    def get(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.tensors is not None:
            x, y = self.tensors
            if x.device != idx.device:
                idx = idx.to(x.device)
            x, y = x[idx], y[idx]
        else:
            samples = [fetch_sample(self.dataset, i) for i in idx.tolist()]
            try:
                x, y = default_collate(samples)
            except (RuntimeError, TypeError) as exc:
                raise DataError(
                    f"samples cannot be batched (do they differ in shape?): {exc}"
                ) from None
            x, y = torch.as_tensor(x), torch.as_tensor(y)
            if x.dtype == torch.float64:
                x = x.float()
        non_blocking = self.device.type == "cuda"
        return x.to(self.device, non_blocking=non_blocking), y.to(
            self.device, non_blocking=non_blocking
        )


def _batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    bounds = [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
    # A last batch of one sample breaks BatchNorm in training mode ("Expected more than
    # 1 value per channel"); dropping it costs one sample per epoch.
    if len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds.pop()
    return bounds


class _RunEnded(Exception):
    """Internal: the loop was asked to stop."""


class _Failure(Exception):
    """Internal: a failure already put in plain words."""


# ---------------------------------------------------------------------------------------
# the trainer


class Trainer:
    """Trains ``model`` on ``bundle`` in a daemon thread; see the module docstring.

    ``bundle`` is used as given: split it first (``bundle.split(config.val_split)``) to
    get validation metrics and a best checkpoint. ``run_dir`` may be None (nothing
    written). After the run, :attr:`model` is the trained model (on ``config.device``).
    """

    def __init__(
        self,
        model: nn.Module,
        bundle: DataBundle,
        config: TrainConfig,
        run_dir: RunDir | None = None,
        *,
        buffer: MetricBuffer | None = None,
        flush_interval: float = 0.25,
    ) -> None:
        config.validate()
        self.model = model
        self.bundle = bundle
        self.config = config
        self.run_dir = run_dir
        self.buffer = buffer if buffer is not None else MetricBuffer()
        self.flush_interval = flush_interval
        self.traceback: str | None = None  # the full traceback of a failure, for a log
        self.optimizer: torch.optim.Optimizer | None = None

        self._cond = threading.Condition()
        self._state = "idle"
        self._error: str | None = None
        self._pause_requested = False
        self._stop_requested = False
        self._steps_allowed = 0
        self._pending_lr: float | None = None
        self._thread: threading.Thread | None = None

        self._device = torch.device(config.device)
        self._step = 0
        self._epoch = 0
        self._epochs_done = 0
        n_train = len(bundle.train)  # type: ignore[arg-type]
        self._steps_per_epoch = len(_batch_bounds(n_train, config.batch_size))
        self._stats: dict[str, Any] = {"lr": config.lr}
        self._start_time: float | None = None
        self._end_time: float | None = None
        self._saved_threads: int | None = None
        self._pending: list[torch.Tensor] = []
        self._pending_meta: list[tuple[int, int, float]] = []
        self._epoch_loss_sum = 0.0
        self._epoch_loss_count = 0

    # -- control (any thread) --------------------------------------------------------------

    @property
    def state(self) -> str:
        """idle | running | paused | finished | failed | stopped"""
        return self._state

    @property
    def error(self) -> str | None:
        """Why the run failed, in plain words; None otherwise."""
        return self._error

    @property
    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start training in a daemon thread (once)."""
        with self._cond:
            if self._thread is not None or self._state != "idle":
                raise RuntimeError(f"this trainer was already started (state {self._state})")
            self._thread = threading.Thread(target=self._run, name="dltui-trainer", daemon=True)
            self._set_state("paused" if self._pause_requested else "running")
        self._thread.start()

    def pause(self) -> None:
        """Pause before the next step. ``state`` turns "paused" once the loop has stopped
        (metrics up to there are flushed by then). Before ``start()``: start paused."""
        with self._cond:
            self._pause_requested = True
            self._cond.notify_all()

    def resume(self) -> None:
        with self._cond:
            self._pause_requested = False
            self._steps_allowed = 0
            self._cond.notify_all()

    def step_once(self) -> None:
        """Take exactly one more optimizer step, then be paused (pauses a running loop)."""
        with self._cond:
            if self._state in _ENDED:
                return
            self._pause_requested = True
            self._steps_allowed += 1
            self._cond.notify_all()

    def stop(self) -> None:
        """Stop after the current step: metrics flushed, last checkpoint written, status
        "stopped". Returns at once; ``join()`` waits for it."""
        with self._cond:
            self._stop_requested = True
            if self._state == "idle":
                self._set_state("stopped")
            self._cond.notify_all()

    def set_lr(self, lr: float) -> None:
        """Use learning rate ``lr`` from the next step on (all parameter groups)."""
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be a number above 0, not {lr!r}")
        with self._cond:
            self._pending_lr = float(lr)
            self._cond.notify_all()

    def join(self, timeout: float | None = None) -> bool:
        """Wait for the thread to end; True when it has (or was never started)."""
        if self._thread is None:
            return True
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def wait_for(self, predicate: Callable[[Trainer], bool], timeout: float | None = None) -> bool:
        """Block until ``predicate(self)`` holds or ``timeout`` passes; returns whether it
        holds. Woken on every state change (and at each read-back), polled every 50 ms."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = 0.05 if deadline is None else min(0.05, deadline - time.monotonic())
                if remaining <= 0:
                    return predicate(self)
                self._cond.wait(remaining)
            return True

    def wait_for_state(self, *states: str, timeout: float | None = None) -> bool:
        """Block until ``state`` is one of ``states`` (or ``timeout`` passes)."""
        return self.wait_for(lambda t: t.state in states, timeout)

    @property
    def progress(self) -> TrainProgress:
        """A consistent snapshot, cheap enough to read on every UI tick."""
        with self._cond:
            s = self._stats
            cuda = self._device.type == "cuda" and torch.cuda.is_available()
            end = self._end_time or time.monotonic()
            elapsed = end - self._start_time if self._start_time else 0.0
            total = self._steps_per_epoch * self.config.epochs
            rate = s.get("samples_per_sec")
            eta = None
            if rate and self._state in ("running", "paused"):
                remaining = max(0, total - self._step) * self.config.batch_size
                eta = remaining / rate
            return TrainProgress(
                state=self._state,
                epoch=self._epoch,
                epochs=self.config.epochs,
                epochs_done=self._epochs_done,
                step=self._step,
                steps_per_epoch=self._steps_per_epoch,
                total_steps=total,
                samples_per_sec=rate,
                eta_seconds=eta,
                elapsed_seconds=elapsed,
                train_loss=s.get("train_loss"),
                best_train_loss=s.get("best_train_loss"),
                epoch_train_loss=s.get("epoch_train_loss"),
                val_loss=s.get("val_loss"),
                best_val_loss=s.get("best_val_loss"),
                val_accuracy=s.get("val_accuracy"),
                best_val_accuracy=s.get("best_val_accuracy"),
                lr=s.get("lr"),
                cuda_memory_allocated=torch.cuda.memory_allocated(self._device) if cuda else None,
                cuda_memory_peak=torch.cuda.max_memory_allocated(self._device) if cuda else None,
                error=self._error,
            )

    def _set_state(self, state: str) -> None:
        # Callers hold self._cond.
        if state in _ENDED and self._end_time is None:
            self._end_time = time.monotonic()
        self._state = state
        self._cond.notify_all()

    # -- the loop (trainer thread) ---------------------------------------------------------

    def _run(self) -> None:
        # The intra-op thread count is set from this thread, but part of it is global
        # (MKL's count is; OpenMP's is per thread): give the old value back at the end.
        self._saved_threads = torch.get_num_threads()
        try:
            self._setup()
            self._train()
            self._end("finished")
        except _RunEnded:
            self._end("stopped")
        except BaseException as exc:  # every failure must end the run cleanly
            self._fail(exc)
        finally:
            torch.set_num_threads(self._saved_threads)

    def _setup(self) -> None:
        cfg = self.config
        torch.set_num_threads(cfg.num_threads or default_num_threads())
        torch.manual_seed(cfg.seed)  # dropout and other random layers
        self._generator = torch.Generator().manual_seed(cfg.seed)  # shuffling
        if self._device.type == "cuda":
            if not torch.cuda.is_available():
                raise _Failure("CUDA is not available on this machine: use --device cpu")
            torch.cuda.reset_peak_memory_stats(self._device)
        self.model.to(self._device)
        check_compatible(self.model, self.bundle, cfg.loss, self._device)
        self._loss_fn = make_loss(cfg.loss)
        self.optimizer = self._make_optimizer()
        self._train_batches = _Batches(self.bundle.train, self._device)
        self._val_batches = (
            _Batches(self.bundle.val, self._device) if self.bundle.val is not None else None
        )
        self._start_time = time.monotonic()
        self._window = (time.monotonic(), 0)
        if self.run_dir is not None:
            self.run_dir.write_status("running", started=time.time(), step=0, epoch=0)
        self._emit([MetricPoint(0, 1, time.time(), "lr", cfg.lr)])

    def _make_optimizer(self) -> torch.optim.Optimizer:
        cfg = self.config
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise _Failure("the model has no trainable parameters: add a layer with weights")
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(
                params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay
            )
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def _train(self) -> None:
        cfg = self.config
        batches = self._train_batches
        bounds = _batch_bounds(batches.n, cfg.batch_size)
        opt = self.optimizer
        assert opt is not None
        clip_params = [p for g in opt.param_groups for p in g["params"]]
        last_flush = time.monotonic()
        for epoch in range(1, cfg.epochs + 1):
            with self._cond:
                self._epoch = epoch
            perm = torch.randperm(batches.n, generator=self._generator).to(batches.index_device)
            self.model.train()
            for lo, hi in bounds:
                self._wait_turn()
                self._apply_pending_lr(epoch)
                x, y = batches.get(perm[lo:hi])
                loss = self._loss_fn(self.model(x), y)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip is not None:
                    torch.nn.utils.clip_grad_norm_(clip_params, cfg.grad_clip)
                opt.step()
                self._step += 1
                # No .item() here: keep the value on the device until the next read-back.
                self._pending.append(loss.detach())
                self._pending_meta.append((self._step, epoch, time.time()))
                self._window = (self._window[0], self._window[1] + (hi - lo))
                if time.monotonic() - last_flush >= self.flush_interval:
                    self._flush()
                    last_flush = time.monotonic()
            self._flush()
            self._end_of_epoch(epoch)
            last_flush = time.monotonic()

    def _wait_turn(self) -> None:
        """The step boundary: honour stop, pause and single steps."""
        with self._cond:
            if self._stop_requested:
                raise _RunEnded
            if not self._pause_requested:
                if self._state != "running":
                    self._set_state("running")
                return
            if self._steps_allowed > 0:
                # A single step: taken in the current state, so a running loop turns
                # "paused" only once that step is done.
                self._steps_allowed -= 1
                return
        # About to wait: make everything so far visible first (outside the lock: the
        # read-back can take a device synchronisation).
        self._flush()
        if self.run_dir is not None:
            self.run_dir.flush()
        with self._cond:
            self._set_state("paused")
            while True:
                if self._stop_requested:
                    raise _RunEnded
                if not self._pause_requested:
                    self._set_state("running")
                    self._window = (time.monotonic(), 0)  # paused time is not throughput
                    return
                if self._steps_allowed > 0:
                    self._steps_allowed -= 1
                    self._window = (time.monotonic(), 0)
                    return
                self._cond.wait(0.5)

    def _apply_pending_lr(self, epoch: int) -> None:
        with self._cond:
            lr, self._pending_lr = self._pending_lr, None
            if lr is None:
                return
            self._stats["lr"] = lr
        assert self.optimizer is not None
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        # Marked at the step it first applies to.
        self._emit([MetricPoint(self._step + 1, epoch, time.time(), "lr", lr)])

    def _flush(self) -> None:
        """Read the pending losses back (one transfer), publish them, check they are finite."""
        if self._pending:
            values = torch.stack(self._pending).to("cpu", torch.float64).tolist()
            meta = self._pending_meta
            self._pending, self._pending_meta = [], []
            points = [
                MetricPoint(step, epoch, t, "train/loss", v)
                for (step, epoch, t), v in zip(meta, values, strict=True)
            ]
            bad = next((p for p in points if not math.isfinite(p.value)), None)
            if bad is not None:
                points = points[: points.index(bad) + 1]
            self._emit(points)
            finite = [p.value for p in points if math.isfinite(p.value)]
            now = time.monotonic()
            with self._cond:
                self._epoch_loss_sum += sum(finite)
                self._epoch_loss_count += len(finite)
                if finite:
                    self._stats["train_loss"] = finite[-1]
                    best = self._stats.get("best_train_loss")
                    self._stats["best_train_loss"] = min(
                        finite + ([best] if best is not None else [])
                    )
                start, samples = self._window
                if now > start and samples:
                    rate = samples / (now - start)
                    old = self._stats.get("samples_per_sec")
                    self._stats["samples_per_sec"] = rate if old is None else 0.7 * old + 0.3 * rate
                self._window = (now, 0)
                self._cond.notify_all()
            if bad is not None:
                what = "NaN" if math.isnan(bad.value) else "infinite"
                lr = self._stats.get("lr")
                raise _Failure(
                    f"loss became {what} at step {bad.step} (epoch {bad.epoch}): lower the "
                    f"learning rate (now {lr:g}), set gradient clipping, or check the data "
                    "for NaN/Inf values"
                )

    def _emit(self, points: list[MetricPoint]) -> None:
        self.buffer.extend(points)
        if self.run_dir is not None:
            self.run_dir.append_metrics(points)

    @torch.no_grad()
    def _evaluate(self) -> tuple[float, float | None] | None:
        """Mean validation loss and accuracy; None when stopped part-way."""
        batches = self._val_batches
        if batches is None or batches.n == 0:
            return None
        self.model.eval()
        total = torch.zeros((), dtype=torch.float64, device=self._device)
        correct = torch.zeros((), dtype=torch.float64, device=self._device)
        has_accuracy = False
        order = torch.arange(batches.n, device=batches.index_device)
        for lo, hi in _batch_bounds_all(batches.n, self.config.batch_size):
            if self._stop_requested:
                raise _RunEnded
            x, y = batches.get(order[lo:hi])
            out = self.model(x)
            # Sum per-batch means weighted by batch size: the mean over all samples.
            total += self._loss_fn(out, y).double() * (hi - lo)
            c = _correct(out, y, self.config.loss)
            if c is not None:
                correct += c.double()
                has_accuracy = True
        self.model.train()
        # One read-back for the whole validation pass.
        loss, acc = torch.stack([total, correct]).cpu().tolist()
        return loss / batches.n, (acc / batches.n if has_accuracy else None)

    def _end_of_epoch(self, epoch: int) -> None:
        with self._cond:
            if self._epoch_loss_count:
                mean = self._epoch_loss_sum / self._epoch_loss_count
                self._stats["epoch_train_loss"] = mean
            self._epoch_loss_sum, self._epoch_loss_count = 0.0, 0
        result = self._evaluate()
        now = time.time()
        improved = False
        points = [MetricPoint(self._step, epoch, now, "lr", self._stats["lr"])]
        if result is not None:
            val_loss, val_acc = result
            points.insert(0, MetricPoint(self._step, epoch, now, "val/loss", val_loss))
            if val_acc is not None:
                points.insert(1, MetricPoint(self._step, epoch, now, "val/accuracy", val_acc))
            with self._cond:
                s = self._stats
                s["val_loss"] = val_loss
                s["val_accuracy"] = val_acc
                if math.isfinite(val_loss) and (
                    s.get("best_val_loss") is None or val_loss < s["best_val_loss"]
                ):
                    s["best_val_loss"] = val_loss
                    improved = True
                if val_acc is not None and (
                    s.get("best_val_accuracy") is None or val_acc > s["best_val_accuracy"]
                ):
                    s["best_val_accuracy"] = val_acc
                self._cond.notify_all()
        self._emit(points)
        if result is not None and not math.isfinite(result[0]):
            raise _Failure(
                f"validation loss became {result[0]} after epoch {epoch}: lower the learning "
                "rate or check the validation data for NaN/Inf values"
            )
        if self.run_dir is not None:
            self.run_dir.save_checkpoint("last", self.model, self.optimizer, self._step, epoch)
            if improved:
                self.run_dir.save_checkpoint(
                    "best",
                    self.model,
                    self.optimizer,
                    self._step,
                    epoch,
                    val_loss=self._stats["val_loss"],
                )
            self.run_dir.write_status("running", **self._status_extra())
            self.run_dir.flush()
        with self._cond:
            self._epochs_done = epoch
            self._cond.notify_all()

    def _status_extra(self) -> dict[str, Any]:
        s = self._stats
        return {
            "step": self._step,
            "epoch": self._epoch,
            "epochs": self.config.epochs,
            "train_loss": s.get("train_loss"),
            "epoch_train_loss": s.get("epoch_train_loss"),
            "val_loss": s.get("val_loss"),
            "best_val_loss": s.get("best_val_loss"),
            "val_accuracy": s.get("val_accuracy"),
        }

    def _end(self, state: str) -> None:
        self.model.eval()  # ready for predictions
        try:
            self._flush()
            if self.run_dir is not None:
                if state == "stopped" and self.optimizer is not None:
                    self.run_dir.save_checkpoint(
                        "last", self.model, self.optimizer, self._step, self._epoch
                    )
                self.run_dir.write_status(state, **self._status_extra())
                self.run_dir.close()
        except BaseException as exc:
            self._fail(exc)
            return
        with self._cond:
            self._set_state(state)

    def _fail(self, exc: BaseException) -> None:
        self.traceback = "".join(traceback.format_exception(exc))
        message = self._explain(exc)
        with self._cond:
            self._error = message
        try:
            # Keep what was measured before the failure; the losses of the failing
            # read-back were already published by _flush.
            self._pending, self._pending_meta = [], []
            if self.run_dir is not None:
                self.run_dir.write_status("failed", error=message, **self._status_extra())
                self.run_dir.close()
        except Exception:  # the original error is the one to report
            pass
        finally:
            with self._cond:
                self._set_state("failed")

    def _explain(self, exc: BaseException) -> str:
        where = f" at step {self._step + 1} (epoch {self._epoch})" if self._epoch else ""
        if isinstance(exc, (_Failure, DataError)) and not isinstance(exc, SampleError):
            return str(exc)
        if isinstance(exc, SampleError):
            return (
                f"{exc} (step {self._step + 1}, epoch {self._epoch})" if self._epoch else str(exc)
            )
        if isinstance(exc, torch.cuda.OutOfMemoryError):
            half = max(1, self.config.batch_size // 2)
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            return (
                f"the GPU ran out of memory{where} with batch size {self.config.batch_size}: "
                f"lower the batch size (try {half}) or use a smaller model"
            )
        if isinstance(exc, KeyboardInterrupt):
            return f"interrupted{where}"
        text = (str(exc).strip().splitlines() or [""])[0]
        return f"{type(exc).__name__}{where}: {text}" if text else f"{type(exc).__name__}{where}"


def _batch_bounds_all(n: int, batch_size: int) -> list[tuple[int, int]]:
    # Validation keeps every sample (eval mode has no one-sample BatchNorm problem).
    return [(i, min(i + batch_size, n)) for i in range(0, n, batch_size)]
