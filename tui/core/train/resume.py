"""Resuming a run from its last checkpoint: ``dltui train --resume RUN_DIR`` and the
monitor's resume key (one path for both, as :func:`~tui.core.train.prepare.prepare_run`
is for new runs).

:func:`resume_run` reads the run's ``config.json`` (spec, data, settings) and
``checkpoint-last.pt``, checks everything before touching the folder, then:

- removes the temporary files of writes a ``kill -9`` cut short;
- cuts ``metrics.jsonl`` back to the checkpoint's step, so that the steps logged after it
  (before the crash) are logged once, by the resumed run: every reader sees one value
  per step and the steps go on without a gap;
- returns a :class:`~tui.core.train.prepare.PreparedRun` whose trainer continues with the
  model, optimizer (learning rate included), epoch, step and random generators restored
  (:mod:`tui.core.train.checkpoint`); its status goes back to ``running`` when it starts.

A run killed before its first checkpoint starts again from step 0 (its metrics file is
emptied). A finished run, or one still running, is refused in one line; so are options
that would change what the checkpoint was trained as (:data:`RESUME_OPTIONS` are the
ones allowed).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

from tui.core.builder.spec import LayerStack, SpecError
from tui.core.train.batches import batch_bounds
from tui.core.train.checkpoint import ResumePoint
from tui.core.train.config import RunState, TrainConfig, make_config
from tui.core.train.prepare import PreparedRun, check_run
from tui.core.train.runs import (
    METRICS,
    MetricsReader,
    RunBusy,
    RunDir,
    RunWriteError,
    checkpoint_name,
    live_state,
    load_checkpoint,
    read_config,
    read_status,
)
from tui.core.train.settings import PrepareError, RunSettings
from tui.core.train.trainer import Trainer

__all__ = ["RESUMABLE", "RESUME_OPTIONS", "resume_run"]

# What a resume may change: how long, and where it trains. Anything else would continue
# the checkpoint as something it was not trained as.
RESUME_OPTIONS = (
    "epochs",
    "device",
    "num_threads",
    "tf32",
    "cudnn_benchmark",
    "eval_interval",
    "workers",
    "detect_anomaly",
)
RESUMABLE = (RunState.STOPPED, RunState.DIED, RunState.FAILED, RunState.UNKNOWN)


def resume_run(
    path: str | Path,
    *,
    changes: Mapping[str, Any] | None = None,
    namespace: dict[str, Any] | None = None,
    with_history: bool = False,
) -> PreparedRun:
    """A trainer that continues the run in ``path`` from its last checkpoint.

    ``changes`` holds settings to change (only :data:`RESUME_OPTIONS`; None values are
    left out). A run of a REPL variable needs that variable in ``namespace``.
    ``with_history`` fills ``PreparedRun.history`` with the points kept in the metrics.

    Raises:
        PrepareError: nothing was changed in the folder; the message says why.
    """
    folder = Path(path)
    name = folder.name
    run_config = read_config(folder) if folder.is_dir() else None
    if run_config is None:
        what = "has no readable config.json" if folder.is_dir() else "is not a folder"
        raise PrepareError(f"--resume: {folder} {what}: not a dltui run to resume")
    status = read_status(folder)
    state = live_state(status)
    _check_state(name, state, status or {})
    config = _config(run_config, changes or {})
    stack = _stack(run_config, name, namespace)
    settings = RunSettings(
        model=str(run_config.get("model") or "builder"),
        data=_data_source(run_config),
        config=config,
    )
    checked = check_run(
        settings, stack=stack, namespace=namespace, spec_path=run_config.get("spec_path")
    )
    point = _checkpoint(folder, checked.model)
    steps_per_epoch = len(batch_bounds(len(checked.bundle.train), checked.config.batch_size))  # type: ignore[arg-type]
    if point is not None:
        if point.steps_per_epoch != steps_per_epoch:
            raise PrepareError(
                f"--resume: the data now cuts into {steps_per_epoch} batches an epoch, the "
                f"checkpoint's run into {point.steps_per_epoch}: has {settings.data} changed?"
            )
        if checked.config.epochs < point.epochs_done:
            raise PrepareError(
                f"epochs: the run has done {point.epochs_done} epochs already: give "
                f"--epochs {point.epochs_done} or more",
                setting="epochs",
            )

    run_dir = RunDir(folder)
    try:
        run_dir.claim()  # one resume at a time: a second one is refused here
    except RunBusy as exc:
        raise PrepareError(f"--resume: {exc}: wait for it to end") from None
    try:
        run_dir.remove_temp_files()
        # No checkpoint: the run starts again, so its earlier points go too.
        run_dir.truncate_metrics(point.step if point is not None else -1)
        _record_resume(run_dir, run_config, checked.config, point)
    except RunWriteError as exc:
        raise PrepareError(f"--resume: {exc}") from None
    trainer = Trainer(checked.model, checked.bundle, checked.config, run_dir, resume=point)
    history = MetricsReader(folder / METRICS).read_all() if with_history else []
    return PreparedRun(
        trainer,
        run_dir,
        checked.bundle.description,
        checked.bundle.task,
        resumed=True,
        history=history,
    )


def _check_state(name: str, state: RunState, status: dict[str, Any]) -> None:
    if state == RunState.FINISHED:
        epochs = status.get("epochs")
        done = f" ({status.get('epoch')}/{epochs} epochs)" if epochs else ""
        raise PrepareError(f"--resume: run {name} has finished{done}: nothing to resume")
    if state.active:
        pid = status.get("pid")
        raise PrepareError(
            f"--resume: run {name} is still {state.value} (pid {pid}): stop it first"
        )
    if state not in RESUMABLE:
        raise PrepareError(f"--resume: run {name} is {state.value}: it cannot be resumed")


def _config(run_config: dict[str, Any], changes: Mapping[str, Any]) -> TrainConfig:
    train = run_config.get("train")
    if not isinstance(train, dict):
        raise PrepareError("--resume: config.json has no training settings (train)")
    names = {f.name for f in fields(TrainConfig)}
    unknown = sorted(k for k, v in changes.items() if v is not None and k not in RESUME_OPTIONS)
    if unknown:
        raise PrepareError(
            f"--resume continues a run with its own settings: --{unknown[0].replace('_', '-')} "
            f"cannot change (allowed: "
            + ", ".join("--" + o.replace("_", "-") for o in RESUME_OPTIONS)
            + ")"
        )
    merged = {k: v for k, v in train.items() if k in names}
    merged.update({k: v for k, v in changes.items() if v is not None})
    try:
        return make_config(merged)
    except ValueError as exc:
        raise PrepareError(f"--resume: {exc}") from None


def _stack(
    run_config: dict[str, Any], name: str, namespace: dict[str, Any] | None
) -> LayerStack | None:
    spec = run_config.get("spec")
    if spec is None:
        variable = run_config.get("model")
        if not isinstance(variable, str) or variable not in (namespace or {}):
            raise PrepareError(
                f"--resume: run {name} trained the REPL variable {variable!r}: resume it from "
                "the monitor (F4) of a dltui whose REPL defines it"
            )
        return None
    try:
        return LayerStack.from_dict(spec)
    except SpecError as exc:
        raise PrepareError(f"--resume: config.json's spec: {exc}") from None


def _data_source(run_config: dict[str, Any]) -> str:
    """The run's data source, a relative path taken from the folder it was started in."""
    data = run_config.get("data")
    if not isinstance(data, str) or not data:
        raise PrepareError("--resume: config.json names no data")
    cwd = run_config.get("cwd")
    if isinstance(cwd, str) and not Path(data).is_absolute() and not Path(data).exists():
        candidate = Path(cwd) / data
        if candidate.exists():
            return str(candidate)
    return data


def _checkpoint(folder: Path, model: Any) -> ResumePoint | None:
    path = folder / checkpoint_name("last")
    if not path.exists():
        return None
    try:
        ckpt = load_checkpoint(path)
    except Exception as exc:  # any unreadable file: a one-line refusal, never a traceback
        raise PrepareError(
            f"--resume: {path.name} cannot be read ({type(exc).__name__}): the run "
            "cannot be resumed"
        ) from None
    try:
        point = ResumePoint.from_checkpoint(ckpt)
    except ValueError as exc:
        raise PrepareError(f"--resume: {path.name}: {exc}") from None
    try:
        model.load_state_dict(ckpt["model"])
    except (RuntimeError, TypeError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PrepareError(
            f"--resume: {path.name} does not fit the model of config.json: {first[:200]}"
        ) from None
    return point


def _record_resume(
    run_dir: RunDir, run_config: dict[str, Any], config: TrainConfig, point: ResumePoint | None
) -> None:
    """config.json keeps the settings the run goes on with (a longer --epochs) and when
    it was resumed, so the next resume and readers see the same run."""
    out = dict(run_config)
    out["train"] = config.to_dict()
    resumes = list(out.get("resumes") or [])
    resumes.append({"time": time.time(), "step": point.step if point is not None else 0})
    out["resumes"] = resumes
    run_dir.write_config(out)
