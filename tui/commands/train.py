"""``dltui train``: train a stack spec without the UI, into a run directory.

Everything that can be wrong with the input (the spec, the data, an option value, model
and data that do not fit together) is found before anything is written: one line on
stderr, exit code 2, no run directory. Then the run trains in the trainer thread while
the main thread prints progress on stderr (updated in place on a terminal, one line per
epoch otherwise) and, at the end, the final metrics on stdout.

Exit codes: 0 finished, 1 the run failed (reason on stderr and in status.json),
2 bad input, 130 interrupted with ctrl+c (the run is stopped cleanly: last checkpoint,
status "stopped").
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from typing import Any, TextIO

import torch

from tui.core.devices import default_device, device_problem
from tui.core.train.data import DataBundle, DataError, check_compatible, load_data
from tui.core.train.runs import RunDir, environment_versions
from tui.core.train.trainer import TrainConfig, Trainer, TrainProgress

__all__ = ["build_train_config", "run_train_command"]

# Defaults for options left out on the command line.
DEFAULTS = TrainConfig(optimizer="adam", lr=1e-3, batch_size=64, epochs=10, val_split=0.2)
PROGRESS_INTERVAL = 0.25  # seconds between progress-line updates on a terminal


class _BadInput(Exception):
    """Input rejected before anything was written (exit code 2)."""


def _check_device(device: str) -> str:
    problem = device_problem(device)
    if problem is not None:
        raise _BadInput(f"--device {problem}")
    return device


def build_train_config(args: argparse.Namespace, bundle: DataBundle) -> TrainConfig:
    """The TrainConfig for parsed ``dltui train`` options; the loss defaults from the task
    (cross_entropy for classification, mse for regression). ``ValueError`` names a bad
    option."""
    changes: dict[str, Any] = {
        "loss": args.loss or ("cross_entropy" if bundle.task == "classification" else "mse"),
        "device": args.device or default_device(),
    }
    for name in (
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
    ):
        value = getattr(args, name, None)
        if value is not None:
            changes[name] = value
    config = replace(DEFAULTS, **changes)
    try:
        config.validate()
    except ValueError as exc:
        raise _BadInput(str(exc)) from None
    return config


def _model_label(model: torch.nn.Module) -> str:
    kinds = {type(m).__name__ for m in model.modules()}
    if any(k.startswith("Conv") for k in kinds):
        return "cnn"
    if any(k in kinds for k in ("LSTM", "GRU", "RNN")):
        return "rnn"
    if "TransformerEncoderLayer" in kinds or "MultiheadAttention" in kinds:
        return "transformer"
    if "Linear" in kinds:
        return "mlp"
    return "model"


def _data_label(source: str) -> str:
    head = source.split(":", 1)[0].rstrip("/\\")
    return head.replace("\\", "/").rsplit("/", 1)[-1].split(".", 1)[0] or "data"


def _prepare(args: argparse.Namespace) -> tuple[Any, torch.nn.Module, DataBundle, TrainConfig]:
    """Validate everything; raise _BadInput with one line on any problem."""
    from tui.core.builder.spec import SpecError, build_module, load_spec_file

    try:
        stack = load_spec_file(args.spec)
    except SpecError as exc:
        raise _BadInput(str(exc)) from None
    try:
        bundle = load_data(args.data)
    except DataError as exc:
        raise _BadInput(f"--data: {exc}") from None
    config = build_train_config(args, bundle)
    _check_device(config.device)
    if tuple(stack.input_shape) != tuple(bundle.input_shape):
        raise _BadInput(
            f"the spec's input_shape is {list(stack.input_shape)} but the data's samples "
            f"have shape {list(bundle.input_shape)}: set input_shape to "
            f"{list(bundle.input_shape)} in {args.spec}"
        )
    # Seed before building so the initial weights are reproducible too.
    torch.manual_seed(config.seed)
    try:
        model = build_module(stack, device=config.device)
    except SpecError as exc:
        raise _BadInput(f"{args.spec}: {exc}") from None
    try:
        bundle = bundle.split(config.val_split, seed=config.seed)
        check_compatible(model, bundle, config.loss, config.device)
    except DataError as exc:
        raise _BadInput(str(exc)) from None
    return stack, model, bundle, config


def _run_config(args: argparse.Namespace, stack: Any, bundle: DataBundle, cfg: TrainConfig) -> dict:
    return {
        "format": 1,
        "created": time.time(),
        "command": _command_line(args),
        "spec": stack.to_dict(),
        "spec_path": str(args.spec),
        "data": bundle.source,
        "data_description": bundle.description,
        "task": bundle.task,
        "num_classes": bundle.num_classes,
        "train": cfg.to_dict(),
        "versions": environment_versions(),
    }


def _command_line(args: argparse.Namespace) -> list[str]:
    """The ``dltui train`` command for these options (sys.argv is not ours in-process)."""
    cmd = ["dltui", "train", str(args.spec), "--data", str(args.data)]
    for name in ("epochs", "batch_size", "lr", "optimizer", "loss", "device", "seed", "val_split"):
        value = getattr(args, name, None)
        if value is not None:
            cmd += ["--" + name.replace("_", "-"), str(value)]
    return cmd


def _fmt(value: float | None, spec: str = ".4f") -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return format(value, spec)


def _fmt_seconds(s: float | None) -> str:
    if s is None or not math.isfinite(s):
        return "-"
    s = round(s)
    return (
        f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
    )


def progress_line(p: TrainProgress) -> str:
    """One status line: epoch, step, losses, accuracy, throughput, ETA."""
    parts = [
        f"epoch {p.epoch}/{p.epochs}",
        f"step {p.step}/{p.total_steps}",
        f"loss {_fmt(p.train_loss)}",
    ]
    if p.val_loss is not None:
        parts.append(f"val {_fmt(p.val_loss)}")
    if p.val_accuracy is not None:
        parts.append(f"acc {p.val_accuracy * 100:.1f}%")
    if p.samples_per_sec:
        parts.append(f"{p.samples_per_sec:,.0f} samples/s")
    if p.eta_seconds is not None:
        parts.append(f"eta {_fmt_seconds(p.eta_seconds)}")
    return "  ".join(parts)


class _ProgressPrinter:
    """Progress on stderr: one line rewritten in place on a terminal; otherwise (a log
    file, CI) one line per completed epoch, built from that epoch's metric points."""

    def __init__(self, stream: TextIO, epochs: int) -> None:
        self.stream = stream
        self.epochs = epochs
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._width = 0
        self._printed = 0
        self._epochs: dict[int, dict[str, Any]] = {}

    def update(self, trainer: Trainer) -> None:
        # Progress first, points second: every point of an epoch counted in
        # ``epochs_done`` has been emitted before the count moved, so the drain has them.
        p = trainer.progress
        for point in trainer.buffer.drain():
            e = self._epochs.setdefault(point.epoch, {"sum": 0.0, "n": 0})
            e["step"] = max(e.get("step", 0), point.step)
            if point.name == "train/loss" and math.isfinite(point.value):
                e["sum"] += point.value
                e["n"] += 1
            elif point.name in ("val/loss", "val/accuracy"):
                e[point.name] = point.value
        if self.tty:
            line = progress_line(p)
            pad = max(0, self._width - len(line))
            self.stream.write("\r" + line + " " * pad)
            self.stream.flush()
            self._width = len(line)
            return
        while self._printed < p.epochs_done:
            self._printed += 1
            e = self._epochs.pop(self._printed, {"sum": 0.0, "n": 0})
            parts = [
                f"epoch {self._printed}/{self.epochs}",
                f"step {e.get('step', 0)}",
                f"loss {_fmt(e['sum'] / e['n'] if e['n'] else None)}",
            ]
            if "val/loss" in e:
                parts.append(f"val {_fmt(e['val/loss'])}")
            if "val/accuracy" in e:
                parts.append(f"acc {e['val/accuracy'] * 100:.1f}%")
            if p.samples_per_sec:
                parts.append(f"{p.samples_per_sec:,.0f} samples/s")
            self.stream.write("  ".join(parts) + "\n")
            self.stream.flush()

    def finish(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()


def run_train_command(args: argparse.Namespace) -> int:
    """Run ``dltui train`` with parsed ``args``; returns the exit code (0, 1, 2 or 130)."""
    try:
        stack, model, bundle, config = _prepare(args)
    except _BadInput as exc:
        print(f"dltui: error: {exc}", file=sys.stderr)
        return 2

    from tui.core.builder.spec import export_code

    try:
        if args.run_dir:
            run_dir = RunDir.at(args.run_dir)
        else:
            label = f"{_data_label(bundle.source)}-{_model_label(model)}"
            run_dir = RunDir.create(args.workspace or ".", label=label)
    except (OSError, ValueError) as exc:
        print(f"dltui: error: --run-dir: {exc}", file=sys.stderr)
        return 2
    run_dir.write_config(_run_config(args, stack, bundle, config))
    run_dir.write_model_code(export_code(stack))

    print(f"dltui: training into {run_dir.path} ({bundle.description})", file=sys.stderr)
    trainer = Trainer(model, bundle, config, run_dir)
    printer = _ProgressPrinter(sys.stderr, config.epochs)
    try:
        trainer.start()
        while not trainer.join(PROGRESS_INTERVAL):
            printer.update(trainer)  # drains the buffer, which would otherwise grow
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
        print(f"dltui: stopped; run directory {run_dir.path}", file=sys.stderr)
        return 130
    printer.finish()

    if trainer.state == "failed":
        print(f"dltui: training failed: {trainer.error}", file=sys.stderr)
        print(f"dltui: run directory {run_dir.path}", file=sys.stderr)
        return 1
    p = trainer.progress
    print(f"train loss: {_fmt(p.epoch_train_loss)}")
    print(f"val loss: {_fmt(p.val_loss)}")
    if p.val_accuracy is not None:
        print(f"val accuracy: {p.val_accuracy:.4f}")
    print(f"run dir: {run_dir.path}")
    return 0 if trainer.state == "finished" else 130
