"""``dltui train``: train a stack spec without the UI, into a run directory.

Options -> :class:`RunSettings` -> :func:`prepare_run` (the monitor's path too, so the
defaults, checks and wording are the same) -> the trainer thread, with progress on
stderr. Everything that can be wrong with the input is found before anything is
written: one line on stderr, exit code 2, no run directory. Progress is the monitor's
progress line, rewritten in place on a terminal, and one line per epoch otherwise (a log
file, CI); at the end the final metrics go to stdout.

Exit codes: 0 finished, 1 the run failed (reason on stderr and in status.json),
2 bad input, 130 interrupted with ctrl+c (the run is stopped cleanly: last checkpoint,
status "stopped").
"""

from __future__ import annotations

import argparse
import shutil
import sys
from typing import TextIO

from tui.core.builder.spec import SpecError, load_spec_file
from tui.core.devices import default_device
from tui.core.text import number_text
from tui.core.train.config import RunState, make_config
from tui.core.train.prepare import PreparedRun, PrepareError, RunSettings, prepare_run
from tui.core.train.progress import EpochLines, progress_text
from tui.core.train.trainer import Trainer

__all__ = ["run_train_command", "settings_from_args"]

PROGRESS_INTERVAL = 0.25  # seconds between progress-line updates on a terminal
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


def _prepare(args: argparse.Namespace) -> PreparedRun:
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
    )


class _ProgressPrinter:
    """Progress on stderr: the progress line rewritten in place on a terminal; otherwise
    one line per completed epoch, built from that epoch's metric points."""

    def __init__(self, stream: TextIO, epochs: int) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self.epochs = EpochLines(epochs)
        self._width = 0

    def update(self, trainer: Trainer) -> None:
        # Progress first, points second (see EpochLines); draining also keeps the
        # buffer from growing.
        p = trainer.progress
        self.epochs.feed(trainer.buffer.drain())
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


def run_train_command(args: argparse.Namespace) -> int:
    """Run ``dltui train`` with parsed ``args``; returns the exit code (0, 1, 2 or 130)."""
    try:
        run = _prepare(args)
    except PrepareError as exc:
        print(f"dltui: error: {exc.text(as_flag=True)}", file=sys.stderr)
        return 2
    trainer, path = run.trainer, run.run_dir.path
    print(f"dltui: training into {path} ({run.description})", file=sys.stderr)
    printer = _ProgressPrinter(sys.stderr, run.config.epochs)
    try:
        trainer.start()
        while not trainer.join(PROGRESS_INTERVAL):
            printer.update(trainer)
        printer.update(trainer)
    except KeyboardInterrupt:
        printer.finish()
        print("dltui: stopping (ctrl+c again to quit at once)...", file=sys.stderr)
        trainer.stop()
        try:
            trainer.join()
        except KeyboardInterrupt:
            print("dltui: quit without saving", file=sys.stderr)
            return 130
        print(f"dltui: stopped; run directory {path}", file=sys.stderr)
        return 130
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
