"""Preparing a training run for the monitor pane: model, data, checks, run directory.

The pane hands over a model (built from the builder's stack, or a REPL variable), a data
source string and a :class:`TrainConfig`; :func:`prepare_run` validates all of it before
anything is written (the same checks as ``dltui train``), then creates the run directory
with config.json and model.py and returns a :class:`Trainer` ready to start. Runs in a
worker thread: loading data and the compatibility check touch torch.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tui.core.devices import device_problem
from tui.core.train.data import DataError, check_compatible, load_data
from tui.core.train.runs import RunDir, environment_versions
from tui.core.train.trainer import TrainConfig, Trainer


class LaunchError(ValueError):
    """The run cannot start; the message says what to change."""


@dataclass
class PreparedRun:
    trainer: Trainer
    run_dir: RunDir
    description: str
    task: str


def prepare_run(
    *,
    stack: Any | None,
    model: nn.Module | None,
    model_label: str,
    data_source: str,
    config: TrainConfig,
    workspace: str | Path,
    namespace: dict[str, Any] | None = None,
) -> PreparedRun:
    """Check model, data and config together; create the run directory; return a Trainer.

    ``config.loss`` may be ``"auto"``: cross-entropy for classification data, else MSE.
    Exactly one of ``stack`` (a builder LayerStack: a fresh model is built from it) and
    ``model`` (a REPL module: trained in place, as a user expects of their variable).
    """
    try:
        bundle = load_data(data_source, namespace)
    except DataError as exc:
        raise LaunchError(f"data: {exc}") from None
    if config.loss == "auto":
        # The usual loss for the task, read off the data loaded once here.
        loss = "cross_entropy" if bundle.task == "classification" else "mse"
        config = copy_config(config, loss=loss)
    try:
        config.validate()
    except ValueError as exc:
        raise LaunchError(str(exc)) from None
    problem = device_problem(config.device)
    if problem is not None:
        raise LaunchError(f"device {problem}")
    torch.manual_seed(config.seed)
    code = None
    if stack is not None:
        from tui.core.builder.spec import SpecError, build_module, export_code

        if tuple(stack.input_shape) != tuple(bundle.input_shape):
            raise LaunchError(
                f"the builder's input shape is {tuple(stack.input_shape)} but the data's "
                f"samples have shape {tuple(bundle.input_shape)}: press i in the builder "
                f"(F3) and set {', '.join(map(str, bundle.input_shape))}"
            )
        try:
            model = build_module(stack, device=config.device)
            code = export_code(stack)
        except SpecError as exc:
            raise LaunchError(f"builder: {exc}") from None
    elif model is not None:
        model = model.to(config.device)
    else:
        raise LaunchError("no model: build one in the builder (F3) or name a REPL variable")
    if not any(p.requires_grad for p in model.parameters()):
        raise LaunchError(
            f"the model {model_label!r} has no trainable parameters: nothing to train "
            "(add a Linear or Conv layer, or set requires_grad=True on its parameters)"
        )
    try:
        bundle = bundle.split(config.val_split, seed=config.seed)
        check_compatible(model, bundle, config.loss, config.device)
    except DataError as exc:
        raise LaunchError(str(exc)) from None
    label = f"{data_source.split(':', 1)[0].rsplit('/', 1)[-1]}-{model_label}"
    run_dir = RunDir.create(workspace, label=label)
    run_dir.write_config(
        {
            "format": 1,
            "created": time.time(),
            "spec": stack.to_dict() if stack is not None else None,
            "model": model_label if stack is None else "builder",
            "model_repr": repr(model) if stack is None else None,
            "data": bundle.source or data_source,
            "data_description": bundle.description,
            "task": bundle.task,
            "num_classes": bundle.num_classes,
            "train": config.to_dict(),
            "versions": environment_versions(),
        }
    )
    if code is not None:
        run_dir.write_model_code(code)
    else:
        run_dir.write_model_code(
            f"# This run trained the REPL variable {model_label!r}; its printed form:\n"
            + "\n".join(f"# {line}" for line in repr(model).splitlines())
            + "\n"
        )
    trainer = Trainer(model, bundle, config, run_dir)
    return PreparedRun(trainer, run_dir, bundle.description, bundle.task)


def copy_config(config: TrainConfig, **changes: Any) -> TrainConfig:
    """A copy of ``config`` with ``changes`` applied."""
    new = copy.copy(config)
    for key, value in changes.items():
        setattr(new, key, value)
    return new
