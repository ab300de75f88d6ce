"""The one path from settings to a ready trainer, for the monitor and ``dltui train``.

:func:`prepare_run` takes :class:`RunSettings` and where the model comes from (a
builder or spec-file stack, or a REPL variable in ``namespace``), and checks everything
before anything is written: the data loads, the config is valid, the device exists, the
stack's input shape matches the data, the model has something to train and fits the data
(:func:`~tui.core.train.compat.check_compatible`). Only then does it create the run
directory with config.json and model.py and return a :class:`Trainer` ready to start.
Any problem is a :class:`PrepareError` in the same words for both front ends.

It loads data and runs a batch through the model: call it from a worker thread in a UI.
:func:`check_run` is the checking half alone, which resuming a run
(:mod:`tui.core.train.resume`) shares.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tui.core.builder.codegen import build_module, export_code
from tui.core.builder.spec import LayerStack, SpecError
from tui.core.devices import device_problem
from tui.core.text import first_line
from tui.core.train.compat import check_compatible
from tui.core.train.config import TrainConfig
from tui.core.train.data import DataBundle, DataError, load_data
from tui.core.train.distributed import Dist
from tui.core.train.loader import default_workers
from tui.core.train.runs import RunDir, environment_versions
from tui.core.train.series import MetricPoint
from tui.core.train.settings import BUILDER, PrepareError, RunSettings
from tui.core.train.trainer import Trainer

__all__ = [
    "CheckedRun",
    "PrepareError",
    "PreparedRun",
    "RunSettings",
    "check_run",
    "data_label",
    "model_kind",
    "prepare_run",
]


@dataclass
class PreparedRun:
    """A run ready to start: its trainer, folder, the data's description and task.

    A resumed run has ``resumed`` set and, when asked for, the points its metrics file
    holds up to the checkpoint in ``history`` (for a plot to start from them).
    """

    trainer: Trainer
    run_dir: RunDir
    description: str
    task: str
    resumed: bool = False
    history: list[MetricPoint] = field(default_factory=list)

    @property
    def config(self) -> TrainConfig:
        """The config it trains with (``loss="auto"`` resolved)."""
        return self.trainer.config


def model_kind(model: nn.Module) -> str:
    """A one-word kind for a run's name: cnn, rnn, transformer, mlp or model."""
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


def data_label(source: str) -> str:
    """The data's part of a run's name: ``spirals:n=9`` -> spirals, ``a/b/x.csv`` -> x."""
    head = source.split(":", 1)[0].rstrip("/\\")
    return head.replace("\\", "/").rsplit("/", 1)[-1].split(".", 1)[0] or "data"


def _repl_model(name: str, namespace: dict[str, Any] | None) -> nn.Module:
    obj = (namespace or {}).get(name)
    if not isinstance(obj, nn.Module):
        raise PrepareError(
            f"model: {name!r} is not an nn.Module in the REPL (use 'builder' or a module variable)",
            setting="model",
        )
    return obj


def _check_input_shape(stack: LayerStack, bundle: DataBundle, spec_path: str | None) -> None:
    want, have = list(stack.input_shape), list(bundle.input_shape)
    if want == have:
        return
    if spec_path is not None:
        owner, fix = "spec's input_shape", f"set input_shape to {have} in {spec_path}"
    else:
        owner = "builder's input shape"
        fix = f"press i in the builder (F3) and set {', '.join(map(str, have))}"
    raise PrepareError(f"the {owner} is {want} but the data's samples have shape {have}: {fix}")


def _build(stack: LayerStack, device: str, origin: str) -> tuple[nn.Module, str]:
    try:
        return build_module(stack, device=device), export_code(stack)
    except SpecError as exc:
        raise PrepareError(f"{origin}: {exc}") from None


def _open_run_dir(run_dir: str | Path | None, workspace: str | Path, label: str) -> RunDir:
    if run_dir is None:
        try:
            return RunDir.create(workspace, label=label)
        except OSError as exc:  # the workspace is a file, or read-only
            raise PrepareError(
                f"workspace: cannot create {Path(workspace) / 'runs'}: {exc.strerror or exc}",
                setting="workspace",
            ) from None
    try:
        return RunDir.at(run_dir)
    except (OSError, ValueError) as exc:
        raise PrepareError(f"run_dir: {exc}", setting="run_dir") from None


@dataclass
class CheckedRun:
    """What :func:`check_run` found good: the model (on its device), the split data,
    the config with its loss resolved, the model's code and the run's name parts."""

    model: nn.Module
    bundle: DataBundle
    config: TrainConfig
    code: str | None
    label: str
    kind: str


def prepare_run(
    settings: RunSettings,
    *,
    workspace: str | Path,
    stack: LayerStack | None = None,
    namespace: dict[str, Any] | None = None,
    spec_path: str | None = None,
    run_dir: str | Path | None = None,
    command: list[str] | None = None,
    dist: Dist | None = None,
) -> PreparedRun:
    """Check model, data and config together; create the run directory; return a run.

    The model is built from ``stack`` when one is given (the builder's, or the one
    loaded from ``spec_path``: a fresh model, seeded by ``config.seed``); otherwise
    ``settings.model`` names a module in ``namespace``, trained in place as a user
    expects of their variable. ``run_dir`` is a folder the user named (refused when it
    holds a run); by default a new one under ``<workspace>/runs``. ``command`` is
    recorded in config.json.

    Raises:
        PrepareError: nothing was written; the message says what to change.
    """
    checked = check_run(settings, stack=stack, namespace=namespace, spec_path=spec_path)
    model, bundle, config, code = checked.model, checked.bundle, checked.config, checked.code
    folder = _open_run_dir(run_dir, workspace, f"{data_label(bundle.source)}-{checked.kind}")
    run_config = _run_config(
        settings, config, bundle, model, stack, checked.label, spec_path, command
    )
    if dist is not None:  # rank 0 of a torchrun job (tui.core.train.distributed)
        run_config["distributed"] = {
            "world_size": dist.world,
            "backend": dist.backend,
            "batch_per_rank": config.batch_size // dist.world,
        }
    folder.write_config(run_config)
    if code is None:
        code = (
            f"# This run trained the REPL variable {settings.model!r}; its printed form:\n"
            + "\n".join(f"# {line}" for line in repr(model).splitlines())
            + "\n"
        )
    folder.write_model_code(code)
    trainer = Trainer(model, bundle, config, folder, dist=dist)
    return PreparedRun(trainer, folder, bundle.description, bundle.task)


def check_run(
    settings: RunSettings,
    *,
    stack: LayerStack | None = None,
    namespace: dict[str, Any] | None = None,
    spec_path: str | None = None,
) -> CheckedRun:
    """Everything :func:`prepare_run` checks, without writing anything.

    Raises:
        PrepareError: the message says what to change.
    """
    module: nn.Module | None = None
    if stack is None:
        if settings.model in ("", BUILDER):
            raise PrepareError("model: the builder (F3) has no stack yet", setting="model")
        module = _repl_model(settings.model, namespace)
    try:
        bundle = load_data(settings.data, namespace)
    except DataError as exc:
        raise PrepareError(f"data: {exc}", setting="data") from None
    # The usual loss for the task, read off the data loaded once here; the DataLoader
    # workers chosen from this machine's cores, so config.json says how many.
    config = settings.config.for_task(bundle.task)
    if config.workers is None:
        config = replace(config, workers=default_workers())
    try:
        config.validate()
    except ValueError as exc:
        raise PrepareError(str(exc)) from None
    problem = device_problem(config.device)
    if problem is not None:
        raise PrepareError(f"device {problem}", setting="device")

    # Seed before building, so the initial weights are reproducible too.
    torch.manual_seed(config.seed)
    try:
        model, code, label, name = _place_model(settings, stack, module, bundle, config, spec_path)
        bundle = bundle.split(config.val_split, seed=config.seed)
        check_compatible(model, bundle, config.loss, config.device)
    except DataError as exc:
        raise PrepareError(str(exc)) from None
    except RuntimeError as exc:
        # Building or moving the model on the device: out of memory on a shared GPU, a
        # busy or unsupported device, "no kernel image". Nothing is written yet.
        raise PrepareError(device_failure(exc, config.device), setting="device") from None
    return CheckedRun(model, bundle, config, code, label, name)


def _place_model(
    settings: RunSettings,
    stack: LayerStack | None,
    module: nn.Module | None,
    bundle: DataBundle,
    config: TrainConfig,
    spec_path: str | None,
) -> tuple[nn.Module, str | None, str, str]:
    """The model on its device, its code, and the run's label and kind."""
    code = None
    if stack is not None:
        _check_input_shape(stack, bundle, spec_path)
        model, code = _build(stack, config.device, spec_path or BUILDER)
        label = settings.model if spec_path is None else "spec"
        name = model_kind(model)
    else:
        assert module is not None
        model = module.to(config.device)
        label = name = settings.model
    if not any(p.requires_grad for p in model.parameters()):
        shown = settings.model if stack is None else (spec_path or BUILDER)
        raise PrepareError(
            f"the model {shown!r} has no trainable parameters: nothing to train "
            "(add a Linear or Conv layer, or set requires_grad=True on its parameters)"
        )
    return model, code, label, name


def device_failure(exc: BaseException, device: str) -> str:
    """A failure to place or run the model on ``device``, in one line with a way out."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return (
            f"device {device} ran out of memory while the model was placed there (another "
            "process may hold it): use a smaller model, free the GPU, or --device cpu"
        )
    return f"device {device} cannot take the model: {first_line(exc)} (try --device cpu)"


def _run_config(
    settings: RunSettings,
    config: TrainConfig,
    bundle: DataBundle,
    model: nn.Module,
    stack: LayerStack | None,
    label: str,
    spec_path: str | None,
    command: list[str] | None,
) -> dict[str, Any]:
    """config.json: everything needed to run it again."""
    out: dict[str, Any] = {"format": 1, "created": time.time()}
    if command is not None:
        out["command"] = command
    # A data path given relative to it is found again from here by --resume.
    out["cwd"] = os.getcwd()
    out["spec"] = stack.to_dict() if stack is not None else None
    if spec_path is not None:
        out["spec_path"] = str(spec_path)
    out["model"] = label
    out["model_repr"] = repr(model) if stack is None else None
    out.update(
        {
            "data": bundle.source or settings.data,
            "data_description": bundle.description,
            "task": bundle.task,
            "num_classes": bundle.num_classes,
            "train": config.to_dict(),
            "versions": environment_versions(),
        }
    )
    return out
