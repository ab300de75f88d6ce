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
device synchronisation. CPU runs take the same path.

A non-finite loss or gradient is looked for after every step on the CPU (free there) or
with ``detect_anomaly``, else at the read-back; then :mod:`tui.core.train.nan` replays
the batch to say where it started, and the run fails with that report, or pauses for a
post-mortem in the REPL (``on_nan = "pause"``, :attr:`Trainer.post_mortem`).

Around the step: the learning rate follows :mod:`~tui.core.train.schedule`;
:mod:`~tui.core.train.precision` gives autocast, fp16 loss scaling, ``torch.compile``
and the CUDA math switches; a Dataset that is not tensor-backed is read through a
DataLoader (:mod:`~tui.core.train.loader`). Validation, checkpoints and the status file
come at an epoch's end, at most every ``eval_interval`` seconds.

A run ends ``finished``, ``stopped`` (on request; last checkpoint written) or ``failed``
(the reason in plain words in :attr:`Trainer.error` and ``status.json``; metrics so far
are flushed, the checkpoints of the last good epoch kept). A write that fails (a full
disk) fails the run with the file named, as any other failure.

A trainer given a :class:`~tui.core.train.checkpoint.ResumePoint` (``resume=``; see
:mod:`tui.core.train.resume`) continues a run from its checkpoint: optimizer state,
random generators, position inside the epoch, running figures.

The thread is a daemon (a UI must be able to quit); :mod:`tui.core.train.lifecycle`
stops and joins every trainer still running when the interpreter exits.

Typical use::

    trainer = Trainer(model, bundle.split(0.2, seed=0), TrainConfig(epochs=30), run_dir)
    trainer.start()
    ...                                  # a UI timer: trainer.buffer.drain(), trainer.progress
    trainer.join()
"""

from __future__ import annotations

import math
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from tui.core.train.batches import Batches, batch_bounds
from tui.core.train.buffer import MetricBuffer
from tui.core.train.checkpoint import ResumePoint, checkpoint_extra, make_optimizer, restore_rng
from tui.core.train.compat import check_compatible
from tui.core.train.config import (
    RunState,
    TrainConfig,
    default_num_threads,
    make_loss,
)
from tui.core.train.data.bundle import DataBundle
from tui.core.train.distributed import FLUSH_STEPS, Dist, all_sum, broadcast_flag, shard
from tui.core.train.evaluate import RunEnded, RunFailure, evaluate, explain_failure
from tui.core.train.lifecycle import register, stop_all_trainers
from tui.core.train.loader import default_workers
from tui.core.train.nan import (
    HISTORY,
    NAN_REPORT,
    NanReport,
    PostMortem,
    diagnose,
    grad_norm,
    grads_finite,
)
from tui.core.train.precision import CompileError, MixedPrecision, compile_model, cuda_math
from tui.core.train.progress import TrainProgress
from tui.core.train.ranges import batch_checker
from tui.core.train.runs import RunDir
from tui.core.train.schedule import Schedule
from tui.core.train.series import MetricPoint
from tui.core.train.system import Sampler
from tui.core.train.system import points as system_points

__all__ = ["SYSTEM_EVERY", "Trainer", "stop_all_trainers"]

SYSTEM_EVERY = 2.0  # seconds between two system/... readings of a run

# ---------------------------------------------------------------------------------------
# the trainer


class Trainer:
    """Trains ``model`` on ``bundle`` in a daemon thread; see the module docstring.

    ``config.loss == "auto"`` is resolved from ``bundle.task``; :attr:`config` holds the
    resolved config.

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
        resume: ResumePoint | None = None,
        dist: Dist | None = None,
    ) -> None:
        # loss="auto" (the default) becomes the usual loss for the data's task.
        config = config.for_task(bundle.task)
        config.validate()
        self.model = model
        self.bundle = bundle
        self.config = config
        self.run_dir = run_dir
        # A torchrun job (tui.core.train.distributed): this rank's share of each batch.
        self.dist = dist
        self._batch = config.batch_size // dist.world if dist is not None else config.batch_size
        self.buffer = buffer if buffer is not None else MetricBuffer()
        self.flush_interval = flush_interval
        self.traceback: str | None = None  # the full traceback of a failure, for a log
        self.optimizer: torch.optim.Optimizer | None = None
        self.resumed_from = resume
        self.released_bytes = 0  # GPU memory handed back when the run ended
        # A non-finite loss or gradient: "fail" the run with a report (dltui train), or
        # "pause" it with a post-mortem for the REPL (the monitor sets this).
        self.on_nan = "fail"
        self.checkpoint_skipped = False  # a checkpoint not written: the weights were not finite
        self.nan_report: NanReport | None = None
        self.post_mortem: PostMortem | None = None
        self._history: deque[tuple[int, float | None, torch.Tensor | None]] = deque(maxlen=HISTORY)
        self._perm: torch.Tensor | None = None
        self._train_batches: Batches | None = None
        self._val_batches: Batches | None = None
        self._system: Sampler | None = None
        self._system_at = -math.inf
        self._epoch_work_at = -math.inf  # the last validation / checkpoint (monotonic)
        self._lr_scale = 1.0  # set_lr and +/- scale the schedule
        self._lr_now: float | None = None  # the lr the optimizer has
        self._lr_marked: float | None = None  # the last lr written as a metric point

        self._cond = threading.Condition()
        self._state = RunState.IDLE
        self._error: str | None = None
        self._pause_requested = False
        self._stop_requested = False
        self._steps_allowed = 0
        self._pending_lr: float | None = None
        self._pending_scale = 1.0
        self._thread: threading.Thread | None = None

        self._device = torch.device(config.device)
        self._step = 0
        self._epoch = 0
        self._epochs_done = 0
        n_train = len(bundle.train)  # type: ignore[arg-type]
        if dist is not None:
            n_train //= dist.world  # every rank an equal share of each epoch
        self._steps_per_epoch = len(batch_bounds(n_train, self._batch))
        self._schedule = Schedule(
            config.schedule,
            total_steps=self._steps_per_epoch * config.epochs,
            steps_per_epoch=self._steps_per_epoch,
            warmup_steps=config.warmup_steps,
            step_epochs=config.step_epochs,
            gamma=config.gamma,
        )
        self._stats: dict[str, Any] = {"lr": config.lr}
        self._start_time: float | None = None
        self._end_time: float | None = None
        self._saved_threads: int | None = None
        self._pending: list[torch.Tensor] = []
        self._pending_meta: list[tuple[int, int, float]] = []
        self._epoch_loss_sum = 0.0
        self._epoch_loss_count = 0
        self._epoch_step = 0  # steps done in epoch _epochs_done + 1
        self._shuffle_state: torch.Tensor | None = None  # before that epoch's permutation
        if resume is not None:
            self._step, self._epoch = resume.step, resume.epoch
            self._epochs_done, self._epoch_step = resume.epochs_done, resume.epoch_step
            self._stats.update({k: v for k, v in resume.stats.items() if v is not None})
            self._epoch_loss_sum = resume.epoch_loss_sum
            self._epoch_loss_count = resume.epoch_loss_count

    # -- control (any thread) --------------------------------------------------------------

    @property
    def state(self) -> RunState:
        """IDLE, then RUNNING / PAUSED, then FINISHED, FAILED or STOPPED."""
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
            if self._thread is not None or self._state != RunState.IDLE:
                raise RuntimeError(f"this trainer was already started (state {self._state})")
            self._thread = threading.Thread(target=self._run, name="dltui-trainer", daemon=True)
            self._set_state(RunState.PAUSED if self._pause_requested else RunState.RUNNING)
        register(self)  # stopped and joined at exit
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
            if self._state.ended:
                return
            self._pause_requested = True
            self._steps_allowed += 1
            self._cond.notify_all()

    def stop(self) -> None:
        """Stop after the current step: metrics flushed, last checkpoint written, status
        "stopped". Returns at once; ``join()`` waits for it."""
        with self._cond:
            self._stop_requested = True
            if self._state == RunState.IDLE:
                self._set_state(RunState.STOPPED)
            self._cond.notify_all()

    def set_lr(self, lr: float) -> None:
        """Use learning rate ``lr`` from the next step on (all parameter groups)."""
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning rate must be a number above 0, not {lr!r}")
        with self._cond:
            self._pending_lr = float(lr)
            self._cond.notify_all()

    def scale_lr(self, factor: float) -> float:
        """Multiply the learning rate by ``factor`` from the next step on: a schedule goes
        on from the new level. Presses before that step compound. Returns the lr the
        next step will have (before its schedule moves)."""
        if not (isinstance(factor, (int, float)) and math.isfinite(factor) and factor > 0):
            raise ValueError(f"an lr factor must be a number above 0, not {factor!r}")
        with self._cond:
            self._pending_scale *= float(factor)
            current = self._stats.get("lr") or self.config.lr
            self._cond.notify_all()
            return current * self._pending_scale

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

    def wait_for_state(self, *states: RunState | str, timeout: float | None = None) -> bool:
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
            if rate and self._state.active:
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

    def _set_state(self, state: RunState) -> None:
        # Callers hold self._cond.
        if state.ended and self._end_time is None:
            self._end_time = time.monotonic()
        self._state = state
        self._cond.notify_all()

    # -- the loop (trainer thread) ---------------------------------------------------------

    def _run(self) -> None:
        # The intra-op thread count is set from this thread, but part of it is global
        # (MKL's count is; OpenMP's is per thread): give the old value back at the end.
        self._saved_threads = torch.get_num_threads()
        cfg = self.config
        try:
            with cuda_math(self._device, tf32=cfg.tf32, benchmark=cfg.cudnn_benchmark):
                self._setup()
                self._train()
            self._end(RunState.FINISHED)
        except RunEnded:
            self._end(RunState.STOPPED)
        except BaseException as exc:  # every failure must end the run cleanly
            self._fail(exc)
        finally:
            torch.set_num_threads(self._saved_threads)
            # Outside the except block: the failed step's traceback (and the activations
            # its frames hold) is gone by now, so emptying the cache frees them too.
            self._release()

    def _release(self) -> None:
        """Drop what only the loop needed (device copies of the data, the optimizer and
        its state, pending losses); on CUDA hand the cached blocks back to the driver
        and record how much in :attr:`released_bytes`."""
        cuda = self._device.type == "cuda" and torch.cuda.is_available()
        before = torch.cuda.memory_reserved(self._device) if cuda else 0
        for batches in (self._train_batches, self._val_batches):
            if batches is not None:
                batches.close()  # DataLoader workers
        self._train_batches = self._val_batches = None
        self._pending, self._pending_meta = [], []
        self.optimizer = None
        if self._system is not None:
            self._system.close()
            self._system = None
        if cuda:
            import gc

            gc.collect()  # reference cycles can hold device tensors too
            torch.cuda.empty_cache()
            self.released_bytes = max(0, before - torch.cuda.memory_reserved(self._device))

    def _setup(self) -> None:
        cfg = self.config
        resume = self.resumed_from
        torch.set_num_threads(cfg.num_threads or default_num_threads())
        self._generator = torch.Generator()  # shuffling
        if resume is not None and resume.rng is not None:
            self._generator.set_state(restore_rng(resume.rng, self._device))
        else:
            torch.manual_seed(cfg.seed)  # dropout and other random layers
            self._generator.manual_seed(cfg.seed)
        # No reset_peak_memory_stats on CUDA: the peak is the whole process's, and a reset
        # would also wipe the peak the REPL's own work reached.
        if self._device.type == "cuda" and not torch.cuda.is_available():
            raise RunFailure("CUDA is not available on this machine: use --device cpu")
        self.model.to(self._device)
        # Also checks labels and token ids of tensor data whole; other data per batch.
        limits = check_compatible(self.model, self.bundle, cfg.loss, self._device)
        self._loss_fn = make_loss(cfg.loss)
        optimizer = make_optimizer(self.model, cfg)
        if optimizer is None:
            raise RunFailure("the model has no trainable parameters: add a layer with weights")
        if resume is not None and resume.optimizer is not None:
            # Moves the state to the parameters' device; the lr is in the param groups.
            optimizer.load_state_dict(resume.optimizer)
            # The lr of the last step done: its factor gives the scale +/- had set.
            saved = optimizer.param_groups[0]["lr"]
            factor = self._schedule.factor(max(0, self._step - 1))
            self._lr_scale = saved / (cfg.lr * factor) if factor > 0 else 1.0
            self._lr_now = self._lr_marked = saved
        else:
            self._lr_now = self._lr_marked = cfg.lr * self._schedule.factor(0)
            for group in optimizer.param_groups:
                group["lr"] = self._lr_now
        self._stats["lr"] = self._lr_now
        self.optimizer = optimizer
        workers = cfg.workers if cfg.workers is not None else default_workers()
        check = None if limits.empty else batch_checker(limits, "training")
        self._train_batches = Batches(self.bundle.train, self._device, check, workers)
        check = None if limits.empty else batch_checker(limits, "validation")
        self._val_batches = (
            Batches(self.bundle.val, self._device, check, workers)
            if self.bundle.val is not None
            else None
        )
        self._amp = MixedPrecision(cfg.precision, self._device)
        if resume is not None:
            self._amp.load_state_dict(resume.grad_scaler)
        self._forward = self.model
        if self.dist is not None:
            from torch.nn.parallel import DistributedDataParallel

            from tui.core.train.distributed import maybe_inject_failure

            # Gradients averaged over the ranks in backward; the parameters broadcast
            # from rank 0 here, so every rank starts from the same weights.
            cuda = self._device.type == "cuda"
            self._forward = DistributedDataParallel(
                self.model, device_ids=[self._device.index] if cuda else None
            )
            self._loss_fn = maybe_inject_failure(self.dist, self._loss_fn)
        if cfg.compile and self.dist is not None:
            raise RunFailure("--compile under torchrun is not supported yet: leave it out")
        if cfg.compile:
            self._forward = self._compiled()
        self._start_time = time.monotonic()
        self._window = (time.monotonic(), 0)
        if resume is not None:
            # The metrics up to the checkpoint are in the file already (the lr at step 0
            # included); the next point is the next step's.
            if self.run_dir is not None:
                self.run_dir.write_status(
                    RunState.RUNNING, resumed=time.time(), **self._status_extra()
                )
            return
        if self.run_dir is not None:
            self.run_dir.write_status(RunState.RUNNING, started=time.time(), **self._status_extra())
        self._emit([MetricPoint(0, 1, time.time(), "lr", self._stats["lr"])])

    def _compiled(self) -> Any:
        """The model compiled for training, tried on one batch (RunFailure if it cannot)."""
        batches = self._train_batches
        assert batches is not None
        n = min(self.config.batch_size, batches.n)
        x, _ = batches.get(torch.arange(n, device=batches.index_device))

        def trial(compiled: Any) -> None:
            with self._amp.autocast():
                compiled(x)

        try:
            return compile_model(self.model, trial)
        except CompileError as exc:
            raise RunFailure(str(exc)) from None
        finally:
            self.model.zero_grad(set_to_none=True)

    def _train(self) -> None:
        cfg = self.config
        batches = self._train_batches
        n = batches.n // self.dist.world if self.dist is not None else batches.n
        bounds = batch_bounds(n, self._batch)
        opt = self.optimizer
        assert opt is not None
        clip_params = [p for g in opt.param_groups for p in g["params"]]
        amp, forward = self._amp, self._forward
        check_each = self._device.type == "cpu" or cfg.detect_anomaly
        # Non-finite gradients with a finite loss: a failure, except under fp16, whose
        # loss scaler expects some and skips those steps itself.
        check_grads = check_each and amp.scaler is None
        # Without a scaler the loss is looked at with the gradients, after backward: one
        # read-back a step, not two (a step of a tiny model is ~0.5 ms; each look ~5 %).
        check_loss_first = check_each and not check_grads
        step_loss: list[torch.Tensor] = []  # the loss of the step after_backward judges

        def after_backward() -> bool:
            norm = grad_norm(clip_params)
            self._history.append((self._step + 1, self._stats.get("lr"), norm))
            if not check_grads:
                return True
            loss = step_loss[0]
            if norm is not None and bool(torch.isfinite(norm + loss.float().sum())):
                return True
            return bool(torch.isfinite(loss).all()) and grads_finite(clip_params, norm)

        last_flush = time.monotonic()
        # A resumed run starts inside the epoch after the last complete one, skipping the
        # batches its checkpoint had done (same permutation: the generator was restored
        # to its state before it).
        skip = self._epoch_step
        for epoch in range(self._epochs_done + 1, cfg.epochs + 1):
            with self._cond:
                self._epoch = epoch
            self._shuffle_state = self._generator.get_state()
            perm = torch.randperm(batches.n, generator=self._generator).to(batches.index_device)
            if self.dist is not None:  # the same permutation on every rank, dealt out
                perm = shard(perm, self.dist)
            self._epoch_step = skip
            self.model.train()
            source = batches.epoch(perm, bounds[skip:])
            self._perm = perm
            todo, i = bounds[skip:], 0
            retry: tuple[torch.Tensor, torch.Tensor] | None = None
            while i < len(todo):
                lo, hi = todo[i]
                self._wait_turn()
                self._apply_lr(epoch)
                # After a post-mortem pause the same batch again (as the REPL left it).
                x, y = retry if retry is not None else next(source)
                retry = None
                with amp.autocast():
                    loss = self._loss_fn(forward(x), y)
                # On the CPU a per-step look costs nothing; on a GPU it is a device sync,
                # so only with --detect-anomaly (else the read-back finds it).
                if check_loss_first and not bool(torch.isfinite(loss.detach()).all()):
                    self._non_finite("loss", epoch, loss, x, y)  # fails, or pauses
                    retry = (x, y)
                    continue
                opt.zero_grad(set_to_none=True)
                step_loss[:] = [loss.detach()]
                if not amp.backward_step(loss, opt, clip_params, cfg.grad_clip, after_backward):
                    # No step was taken: name what went non-finite first, the loss or
                    # the gradients of a finite loss.
                    finite_loss = bool(torch.isfinite(loss.detach()).all())
                    if not finite_loss and self._history and self._history[-1][0] == self._step + 1:
                        self._history.pop()  # the report lists the steps before a bad loss
                    self._non_finite("gradient" if finite_loss else "loss", epoch, loss, x, y)
                    retry = (x, y)
                    continue
                i += 1
                self._step += 1
                self._epoch_step += 1
                # No .item() here: keep the value on the device until the next read-back.
                self._pending.append(loss.detach())
                self._pending_meta.append((self._step, epoch, time.time(), lo, hi))
                # Samples of every rank: the job's throughput, not this rank's.
                world = self.dist.world if self.dist is not None else 1
                self._window = (self._window[0], self._window[1] + (hi - lo) * world)
                if (
                    len(self._pending) >= FLUSH_STEPS
                    if self.dist is not None
                    else time.monotonic() - last_flush >= self.flush_interval
                ):
                    self._flush()
                    last_flush = time.monotonic()
            skip = 0
            self._flush()
            self._end_of_epoch(epoch)
            last_flush = time.monotonic()

    def _wait_turn(self) -> None:
        """The step boundary: honour stop, pause and single steps."""
        with self._cond:
            if self._stop_requested:
                raise RunEnded
            if not self._pause_requested:
                if self._state != RunState.RUNNING:
                    self._set_state(RunState.RUNNING)
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
            self._set_state(RunState.PAUSED)
            while True:
                if self._stop_requested:
                    raise RunEnded
                if not self._pause_requested:
                    self._set_state(RunState.RUNNING)
                    self._window = (time.monotonic(), 0)  # paused time is not throughput
                    return
                if self._steps_allowed > 0:
                    self._steps_allowed -= 1
                    self._window = (time.monotonic(), 0)
                    return
                self._cond.wait(0.5)

    def _apply_lr(self, epoch: int) -> None:
        """The learning rate of the next step: the schedule's, scaled by set_lr/scale_lr."""
        asked = False
        # Read without the lock first: they are rarely set, and this runs every step.
        if self._pending_lr is not None or self._pending_scale != 1.0:
            with self._cond:
                lr, self._pending_lr = self._pending_lr, None
                scale, self._pending_scale = self._pending_scale, 1.0
            if lr is not None:  # set_lr: the schedule goes on from this level
                factor = self._schedule.factor(self._step)
                self._lr_scale = lr / (self.config.lr * factor) if factor > 0 else 1.0
            self._lr_scale *= scale  # +/-: the schedule, scaled
            self._stats["lr_scale"] = self._lr_scale
            asked = True
        elif self._schedule.constant:
            return
        lr = self.config.lr * self._lr_scale * self._schedule.factor(self._step)
        if lr == self._lr_now:
            return
        assert self.optimizer is not None
        for group in self.optimizer.param_groups:
            group["lr"] = lr
        self._lr_now = lr
        self._stats["lr"] = lr
        if asked:
            # Marked at the step it first applies to (a schedule's own changes are
            # marked at each read-back instead: one point per step would double the file).
            self._emit([MetricPoint(self._step + 1, epoch, time.time(), "lr", lr)])
            self._lr_marked = lr

    def _flush(self) -> None:
        """Read the pending losses back (one transfer), publish them, check they are finite."""
        self._sample_system()
        if self._lr_now != self._lr_marked and self._lr_now is not None:
            self._emit([MetricPoint(self._step, self._epoch, time.time(), "lr", self._lr_now)])
            self._lr_marked = self._lr_now
        if self._pending:
            # Copy to the host first, then convert: one call doing both raises from MPS
            # (and no float64 tensor is ever made on the device, which MPS lacks).
            stacked = torch.stack(self._pending).float()
            if self.dist is not None:
                stacked = self._reduce_losses(stacked)
            values = stacked.cpu().tolist()
            meta = self._pending_meta
            self._pending, self._pending_meta = [], []
            points = [
                MetricPoint(step, epoch, t, "train/loss", v)
                for (step, epoch, t, _, _), v in zip(meta, values, strict=True)
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
                # Seen at the read-back, some steps after it happened (a GPU run without
                # --detect-anomaly): replay that step's batch if it is of this epoch.
                _, epoch, _, lo, hi = meta[points.index(bad)]
                x = y = None
                if epoch == self._epoch and self._train_batches is not None:
                    x, y = self._train_batches.get(self._perm[lo:hi])
                loss = torch.tensor(bad.value)
                self._non_finite("loss", bad.epoch, loss, x, y, step=bad.step)

    def _non_finite(
        self,
        what: str,
        epoch: int,
        loss: torch.Tensor,
        x: torch.Tensor | None,
        y: torch.Tensor | None,
        step: int | None = None,
    ) -> None:
        """A step's loss or gradient is not finite: find where (tui.core.train.nan), then
        pause for a post-mortem (``on_nan == "pause"``: the UI hands the REPL ``model``,
        ``batch``, ``loss``, ``nan_report``) or fail the run with the report."""
        step = self._step + 1 if step is None else step
        value = float(loss.detach().float().reshape(-1)[0]) if loss.numel() else math.nan
        where, fix, layer, parameter = diagnose(self.model, x, y, self._loss_fn, self._amp.autocast)
        history = list(self._history)
        norms = [n for _, _, n in history]
        values = torch.stack(norms).cpu().tolist() if norms and None not in norms else []
        report = NanReport(
            step=step,
            epoch=epoch,
            loss=value,
            where={
                "loss": where,
                "gradient": f"(a non-finite gradient) {where}",
                "validation": f"(the validation loss) {where}",
            }[what],
            fix=fix,
            layer=layer,
            parameter=parameter,
            lr=self._stats.get("lr"),
            lr_history=[(s, lr) for s, lr, _ in history if lr is not None],
            grad_norms=[(s, v) for (s, _, _), v in zip(history, values, strict=False)],
            late_by=max(0, self._step - step),
        )
        self.nan_report = report
        if self.on_nan != "pause" and what == "loss" and step > self._step:
            # Seen before the read-back (the per-step look): the losses so far, then the
            # bad one, go to the metrics as a read-back would have put them.
            self._flush()
            self._emit([MetricPoint(step, epoch, time.time(), "train/loss", value)])
        if self.on_nan != "pause":
            kind = "NaN" if math.isnan(value) else ("infinite" if what == "loss" else "finite")
            head = {
                "loss": f"loss became {kind} at step {step} (epoch {epoch})",
                "gradient": f"a gradient became non-finite at step {step} (epoch {epoch})",
                "validation": f"validation loss became {value} after epoch {epoch}",
            }[what]
            raise RunFailure(f"{head}: {where}; try: {fix}")
        batch = (x, y) if x is not None and y is not None else None
        self.post_mortem = PostMortem(self.model, batch, loss.detach(), report)
        with self._cond:
            self._pause_requested = True  # the next step boundary pauses
            self._cond.notify_all()

    def _sample_system(self) -> None:
        """Every SYSTEM_EVERY seconds, the machine's, the process's and the GPUs' figures as
        ``system/...`` metrics of the run (tui.core.train.system), so that ``dltui watch``
        plots them too. Only for a run that writes a run directory."""
        if self.run_dir is None:
            return
        now = time.monotonic()
        if now - self._system_at < SYSTEM_EVERY:
            return
        self._system_at = now
        try:
            if self._system is None:
                self._system = Sampler()
            reading = self._system.sample()
        except Exception:  # figures about the machine must never fail a run
            return
        self._emit(system_points(reading, self._step, self._epoch))

    def _emit(self, points: list[MetricPoint]) -> None:
        self.buffer.extend(points)
        if self.run_dir is not None:
            self.run_dir.append_metrics(points)

    def _reduce_losses(self, losses: torch.Tensor) -> torch.Tensor:
        """The ranks' losses averaged, and a stop asked of any rank made everyone's (the
        same collective at the same step on every rank)."""
        assert self.dist is not None
        stop = torch.tensor([1.0 if self._stop_requested else 0.0], device=losses.device)
        both = all_sum(torch.cat([losses, stop]))
        if float(both[-1]) > 0 and not self._stop_requested:
            with self._cond:
                self._stop_requested = True
                self._cond.notify_all()
        return both[:-1] / self.dist.world

    def _evaluate(self) -> tuple[float, float | None] | None:
        """Mean validation loss and accuracy; None without a validation set."""
        batches = self._val_batches
        if batches is None or batches.n == 0:
            return None
        cfg = self.config
        return evaluate(
            self.model,
            batches,
            self._loss_fn,
            cfg.loss,
            cfg.batch_size,
            self._device,
            lambda: self._stop_requested,
            self._amp.autocast,
            self.dist,
        )

    def _end_of_epoch(self, epoch: int) -> None:
        with self._cond:
            if self._epoch_loss_count:
                mean = self._epoch_loss_sum / self._epoch_loss_count
                self._stats["epoch_train_loss"] = mean
            self._epoch_loss_sum, self._epoch_loss_count = 0.0, 0
        # Validation, checkpoints and the status file cost as much as many steps of a tiny
        # model: every epoch, but at most every eval_interval seconds (the last epoch
        # always; a stop writes its own checkpoint).
        due = epoch == self.config.epochs or (
            time.monotonic() - self._epoch_work_at >= self.config.eval_interval
        )
        if self.dist is not None:  # rank 0's clock decides, for every rank
            due = broadcast_flag(due, self._device)
        if not due:
            with self._cond:
                self._epochs_done = epoch
                self._epoch_step = 0
                self._cond.notify_all()
            return
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
            # The same post-mortem (the weights are checked first), at the epoch's end.
            self._non_finite("validation", epoch, torch.tensor(result[0]), None, None, self._step)
        if self.run_dir is not None:
            # Metrics first: a checkpoint never runs ahead of the metrics file (resume
            # cuts the file back to the checkpoint's step).
            self.run_dir.flush()
            self._save_checkpoint("last", epochs_done=epoch)
            if improved:
                self._save_checkpoint("best", epochs_done=epoch, val_loss=self._stats["val_loss"])
            self.run_dir.write_status(RunState.RUNNING, **self._status_extra())
        self._epoch_work_at = time.monotonic()
        with self._cond:
            self._epochs_done = epoch
            self._epoch_step = 0
            self._cond.notify_all()

    def _save_checkpoint(self, kind: str, epochs_done: int, **extra: Any) -> None:
        """Write checkpoint ``kind`` with everything :mod:`~tui.core.train.resume` needs;
        ``epochs_done`` counts the epochs complete with their validation."""
        assert self.run_dir is not None
        # Weights that went non-finite never replace a checkpoint: the last good one is
        # what a resume (or the user) needs after a divergence.
        if not all(bool(torch.isfinite(p.detach()).all()) for p in self.model.parameters()):
            self.checkpoint_skipped = True
            return
        # Inside an epoch, the shuffling state to keep is the one from before its
        # permutation (the resumed run redraws it and skips the batches done); after a
        # complete epoch, the generator's current state.
        mid_epoch = self._epoch > epochs_done and self._shuffle_state is not None
        shuffle = self._shuffle_state if mid_epoch else self._generator.get_state()
        assert shuffle is not None
        resume_state = checkpoint_extra(
            epochs_done=epochs_done,
            epoch_step=self._epoch_step if mid_epoch else 0,
            steps_per_epoch=self._steps_per_epoch,
            epochs=self.config.epochs,
            shuffle=shuffle,
            device=self._device,
            stats=self._stats,
            loss_sum_count=(self._epoch_loss_sum, self._epoch_loss_count),
            grad_scaler=self._amp.state_dict(),
        )
        self.run_dir.save_checkpoint(
            kind, self.model, self.optimizer, self._step, self._epoch, **resume_state, **extra
        )

    def _status_extra(self) -> dict[str, Any]:
        s = self._stats
        return {
            "step": self._step,
            "epoch": self._epoch,
            "epochs": self.config.epochs,
            "steps_per_epoch": self._steps_per_epoch,
            "train_loss": s.get("train_loss"),
            "epoch_train_loss": s.get("epoch_train_loss"),
            "val_loss": s.get("val_loss"),
            "best_val_loss": s.get("best_val_loss"),
            "val_accuracy": s.get("val_accuracy"),
        }

    def _end(self, state: RunState) -> None:
        self.model.eval()  # ready for predictions
        try:
            self._flush()
            if self.run_dir is not None:
                self.run_dir.flush()
                if state == RunState.STOPPED and self.optimizer is not None:
                    self._save_checkpoint("last", epochs_done=self._epochs_done)
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
                extra = self._status_extra()
                if self.nan_report is not None:
                    extra["nan_report"] = self.nan_report.to_dict()
                    self.run_dir.write_json(NAN_REPORT, self.nan_report.to_dict())
                # A full disk may refuse the status too: write_status then tries in place.
                self.run_dir.write_status(RunState.FAILED, error=message, **extra)
        except Exception:  # the original error is the one to report
            pass
        finally:
            if self.run_dir is not None:
                self.run_dir.close(discard_on_error=True)
            with self._cond:
                self._set_state(RunState.FAILED)

    def _explain(self, exc: BaseException) -> str:
        if self.dist is not None and self.dist.main:
            from tui.core.train.distributed import failure_of_others

            # Rank 0's collective broke because another rank failed: name that one.
            other = failure_of_others()
            if other is not None:
                return f"{other} (the other ranks stopped with it)"
        return explain_failure(exc, self._step, self._epoch, self.config.batch_size)
