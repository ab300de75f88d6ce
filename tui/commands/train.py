"""``dltui train``: train a stack spec without the UI, into a run directory.

Options -> :class:`RunSettings` -> :func:`prepare_run` (the monitor's path too, so the
defaults, checks and wording are the same) -> the trainer thread, with progress on
stderr. Everything that can be wrong with the input is found before anything is
written: one line on stderr, exit code 2, no run directory. Progress is the monitor's
progress line, rewritten in place on a terminal, and one line per epoch otherwise (a log
file, CI); at the end the final metrics go to stdout.

``--resume RUN_DIR`` continues a stopped or crashed run from its last checkpoint through
:func:`~tui.core.train.resume.resume_run` (the monitor's resume key too).

Exit codes: 0 finished, 1 the run failed (reason on stderr and in status.json),
2 bad input (a finished run given to --resume included), 128 + the signal's number when
stopped by a signal: 130 ctrl+c (SIGINT), 143 SIGTERM, 129 SIGHUP (an SSH session
dropped). The run is then stopped cleanly: the trainer finishes its step, writes
checkpoint-last.pt and status "stopped", and its thread is joined before the process
exits. The signal handlers only set a flag: an exception raised inside ``Thread.join``
(as the default ctrl+c handler does) can leave Python 3.11's thread marked finished
while it still runs inside torch, and the interpreter then aborts at exit ("terminate
called without an active exception"). A second signal, or a trainer that does not stop
within :data:`STOP_TIMEOUT` seconds, leaves at once with ``os._exit`` after writing
"stopped" (the checkpoint of the last complete epoch is kept).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import sys
import time
from types import FrameType
from typing import Any, TextIO

from tui.core.builder.spec import SpecError, load_spec_file
from tui.core.devices import default_device
from tui.core.text import first_line, number_text
from tui.core.train.config import RunState, make_config
from tui.core.train.distributed import Dist, from_env, record_failure
from tui.core.train.distributed import start as start_job
from tui.core.train.distributed import stop as stop_job
from tui.core.train.prepare import PreparedRun, PrepareError, RunSettings, check_run, prepare_run
from tui.core.train.progress import EpochLines, progress_text
from tui.core.train.trainer import Trainer

__all__ = ["run_train_command", "settings_from_args"]

PROGRESS_INTERVAL = 0.25  # seconds between progress-line updates on a terminal
STOP_TIMEOUT = 60.0  # seconds a stopping trainer gets to finish its step and checkpoint
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
# The TrainConfig fields that have a ``dltui train`` option of the same name.
OPTIONS = (
    "loss",
    "epochs",
    "batch_size",
    "lr",
    "optimizer",
    "seed",
    "val_split",
    "weight_decay",
    "momentum",
    "grad_clip",
    "num_threads",
    "device",
    "tf32",
    "cudnn_benchmark",
    "eval_interval",
    "workers",
    "detect_anomaly",
    "precision",
    "compile",
    "schedule",
    "warmup_steps",
    "step_epochs",
    "gamma",
)


def settings_from_args(args: argparse.Namespace) -> RunSettings:
    """The settings for parsed ``dltui train`` options: options left out take the
    defaults (the loss by the data's task, the device cuda > mps > cpu).
    :class:`PrepareError` names a bad option."""
    changes = {name: getattr(args, name, None) for name in OPTIONS}
    changes["device"] = changes["device"] or default_device()
    try:
        config = make_config(changes)
    except ValueError as exc:
        raise PrepareError(str(exc)) from None
    return RunSettings(model=str(args.spec), data=args.data, config=config)


def _command_line(args: argparse.Namespace) -> list[str]:
    """The ``dltui train`` command for these options (sys.argv is not ours in-process)."""
    cmd = ["dltui", "train", str(args.spec), "--data", str(args.data)]
    for name in ("epochs", "batch_size", "lr", "optimizer", "loss", "device", "seed", "val_split"):
        value = getattr(args, name, None)
        if value is not None:
            cmd += ["--" + name.replace("_", "-"), str(value)]
    return cmd


def _resume_conflict(args: argparse.Namespace) -> str | None:
    """Why these options cannot go with ``--resume``, or None."""
    from tui.core.train.resume import RESUME_OPTIONS

    if args.spec is not None:
        return "SPEC.json: --resume trains the spec recorded in the run's config.json"
    for name in ("data", "run_dir", *OPTIONS):
        if name not in RESUME_OPTIONS and getattr(args, name, None) is not None:
            flag = "--" + name.replace("_", "-")
            allowed = ", ".join("--" + o.replace("_", "-") for o in RESUME_OPTIONS)
            return (
                f"{flag}: --resume continues the run with its own settings "
                f"(only {allowed} may change)"
            )
    return None


def _prepare(args: argparse.Namespace, dist: Dist | None = None) -> PreparedRun:
    if getattr(args, "resume", None) is not None:
        from tui.core.train.resume import resume_run

        problem = _resume_conflict(args)
        if problem is not None:
            raise PrepareError(problem)
        from tui.core.train.resume import RESUME_OPTIONS

        changes = {name: getattr(args, name, None) for name in RESUME_OPTIONS}
        return resume_run(args.resume, changes=changes)
    try:
        stack = load_spec_file(args.spec)
    except SpecError as exc:
        raise PrepareError(str(exc)) from None
    return prepare_run(
        settings_from_args(args),
        workspace=args.workspace or ".",
        stack=stack,
        spec_path=str(args.spec),
        run_dir=args.run_dir,
        command=_command_line(args),
        dist=dist,
    )


class _ProgressPrinter:
    """Progress on stderr: the progress line rewritten in place on a terminal; otherwise
    one line per completed epoch, built from that epoch's metric points."""

    def __init__(self, stream: TextIO, epochs: int) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.epochs = EpochLines(epochs)
        self.silent = False  # stderr has gone (a dropped SSH session): train on quietly
        self._width = 0

    def update(self, trainer: Trainer) -> None:
        # Progress first, points second (see EpochLines); draining also keeps the
        # buffer from growing.
        p = trainer.progress
        self.epochs.feed(trainer.buffer.drain())
        if self.silent:
            return
        if self.tty:
            # One terminal row, or the carriage return would rewrite only the last one.
            columns = shutil.get_terminal_size().columns
            line = progress_text(p, compact=True)[: max(20, columns - 1)]
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()
            self._width = len(line)
            return
        for line in self.epochs.completed(p.epochs_done, p.samples_per_sec):
            self.stream.write(line + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()


def _say(text: str) -> None:
    """A line on stderr; a terminal that has gone (SIGHUP) must not stop the shutdown."""
    with contextlib.suppress(OSError, ValueError):
        print(text, file=sys.stderr, flush=True)


class _StopSignals:
    """SIGINT, SIGTERM and SIGHUP as a flag the progress loop polls (see the module
    docstring for why no exception); a second signal leaves at once."""

    def __init__(self, on_second: Any) -> None:
        self.signum: int | None = None
        self._on_second = on_second
        self._saved: dict[int, Any] = {}

    def __enter__(self) -> _StopSignals:
        for sig in STOP_SIGNALS:
            # An ignored signal stays ignored: `nohup dltui train ... &` asked for SIGHUP
            # (and a background job of a script for SIGINT) not to stop the run.
            if signal.getsignal(sig) == signal.SIG_IGN:
                continue
            with contextlib.suppress(ValueError, OSError):  # not the main thread
                self._saved[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._saved.items():
            with contextlib.suppress(ValueError, OSError, TypeError):
                signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
        else:
            self._on_second(signum)

    def interrupt(self) -> None:
        """A KeyboardInterrupt raised anyway (a test, a handler not installed)."""
        if self.signum is None:
            self.signum = signal.SIGINT
        else:
            self._on_second(signal.SIGINT)


def _exit_now(run: PreparedRun, signum: int, why: str) -> None:
    """Leave without waiting for the trainer: status "stopped" (the checkpoint of the
    last complete epoch stays), then ``os._exit``, which runs no interpreter
    finalization that would abort on a thread still inside torch."""
    with contextlib.suppress(Exception):
        p = run.trainer.progress
        run.run_dir.write_status(
            RunState.STOPPED,
            error=None,
            step=p.step,
            epoch=p.epoch,
            epochs=p.epochs,
            note=why,
        )
    _say(f"dltui: {why}; run directory {run.run_dir.path}")
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    os._exit(128 + signum)


def run_train_command(args: argparse.Namespace) -> int:
    """Run ``dltui train`` with parsed ``args``; returns the exit code (0, 1, 2, or
    128 + a signal's number)."""
    if getattr(args, "resume", None) is None and (args.spec is None or args.data is None):
        missing = ", ".join(
            name for name, v in (("SPEC.json", args.spec), ("--data", args.data)) if v is None
        )
        print(
            f"dltui train: error: the following arguments are required: {missing} "
            "(see dltui train --help)",
            file=sys.stderr,
        )
        return 2
    job = from_env()
    if job is None:
        return _train(args, None)
    # Under torchrun (tui.core.train.distributed): join the job, then rank 0 runs the
    # usual command (it alone writes and prints) and the other ranks train quietly.
    if getattr(args, "resume", None) is not None:
        print(
            "dltui: error: --resume: resume this run with one process "
            "(dltui train --resume RUN_DIR), not under torchrun",
            file=sys.stderr,
        )
        return 2
    try:
        job, args.device = start_job(job, args.device or default_device())
    except Exception as exc:
        print(
            f"dltui: error: rank {job.rank} cannot join the torchrun job: {first_line(exc)}",
            file=sys.stderr,
        )
        return 1
    try:
        return _train(args, job) if job.main else _other_rank(args, job)
    finally:
        stop_job()


def _other_rank(args: argparse.Namespace, job: Dist) -> int:
    """A rank other than 0: the same checks and training, nothing written or printed
    unless it fails (then its reason goes where rank 0 finds it)."""
    try:
        stack = load_spec_file(args.spec)
        checked = check_run(settings_from_args(args), stack=stack, spec_path=str(args.spec))
    except (PrepareError, SpecError):
        return 2  # rank 0 has the same inputs: it says what is wrong
    trainer = Trainer(checked.model, checked.bundle, checked.config, None, dist=job)
    with _StopSignals(lambda signum: os._exit(128 + signum)) as signals:
        trainer.start()
        stopping = False
        while not trainer.join(PROGRESS_INTERVAL):
            if signals.signum is not None and not stopping:
                trainer.stop()  # at the step all ranks stop at (it travels with the losses)
                stopping = True
    if trainer.state == RunState.FAILED:
        record_failure(job, trainer.error or "failed")
        print(f"dltui: rank {job.rank}: training failed: {trainer.error}", file=sys.stderr)
        return 1
    return 128 + signals.signum if signals.signum is not None else 0


def _train(args: argparse.Namespace, job: Dist | None) -> int:
    """The command on one process, or on rank 0 of a torchrun job."""
    try:
        run = _prepare(args, job)
    except PrepareError as exc:
        print(f"dltui: error: {exc.text(as_flag=True)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # while loading data: nothing is training yet
        _say("dltui: interrupted")
        return 130
    trainer, path = run.trainer, run.run_dir.path
    verb = "resuming" if run.resumed else "training into"
    print(f"dltui: {verb} {path} ({run.description})", file=sys.stderr)
    printer = _ProgressPrinter(sys.stderr, run.config.epochs)

    def second(signum: int) -> None:
        _exit_now(run, signum, "stopped at once (second signal)")

    with _StopSignals(second) as signals:
        trainer.start()
        deadline: float | None = None
        while True:
            try:
                if trainer.join(PROGRESS_INTERVAL):
                    break
                if signals.signum is None:
                    printer.update(trainer)
                elif deadline is None:
                    # Stop once: finish the step, write the checkpoint, status "stopped".
                    deadline = time.monotonic() + STOP_TIMEOUT
                    with contextlib.suppress(OSError, ValueError):
                        printer.finish()
                    name = signal.Signals(signals.signum).name
                    _say(f"dltui: {name}: stopping after this step (again to quit at once)...")
                    trainer.stop()
                elif time.monotonic() > deadline:
                    _exit_now(run, signals.signum, "the trainer did not stop in time")
            except KeyboardInterrupt:
                signals.interrupt()
            except OSError:
                printer.silent = True
        if signals.signum is not None:
            _say(f"dltui: stopped; run directory {path}")
            return 128 + signals.signum
    with contextlib.suppress(OSError, ValueError):
        printer.update(trainer)
        printer.finish()

    if trainer.state == RunState.FAILED:
        print(f"dltui: training failed: {trainer.error}", file=sys.stderr)
        print(f"dltui: run directory {path}", file=sys.stderr)
        return 1
    p = trainer.progress
    print(f"train loss: {number_text(p.epoch_train_loss, '.4f')}")
    print(f"val loss: {number_text(p.val_loss, '.4f')}")
    if p.val_accuracy is not None:
        print(f"val accuracy: {p.val_accuracy:.4f}")
    print(f"run dir: {path}")
    return 0 if trainer.state == RunState.FINISHED else 130
