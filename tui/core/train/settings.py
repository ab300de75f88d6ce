"""What a user asks of a run, before anything is loaded: the model, the data, the config.

The monitor's form and ``dltui train``'s options both end in a :class:`RunSettings`,
whose defaults are :class:`TrainConfig`'s. :func:`settings_from_form` turns the form's
text into settings (the widget only collects the text); :data:`FORM_FIELDS` lists the
fields with their defaults and hints. A problem is a :class:`PrepareError` naming the
setting, worded the same for both front ends.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from tui.core.text import number_text
from tui.core.train.config import (
    DEFAULT_DATA,
    LOSS_AUTO,
    LOSSES,
    OPTIMIZERS,
    PRECISIONS,
    TrainConfig,
    make_config,
)
from tui.core.train.schedule import SCHEDULES

__all__ = [
    "BUILDER",
    "DEVICE_CHOICES",
    "FORM_FIELDS",
    "FormField",
    "PrepareError",
    "RunSettings",
    "form_defaults",
    "form_from_config",
    "settings_from_form",
]

BUILDER = "builder"  # the model setting that means "the builder's stack"


class PrepareError(ValueError):
    """The run cannot start; the message says what to change.

    ``setting`` names the setting at fault (``data``, ``device``, ``lr``, ``run_dir``...)
    when the message starts with it; :meth:`text` spells it as a command-line flag.
    """

    def __init__(self, message: str, setting: str | None = None) -> None:
        super().__init__(message)
        self.setting = setting

    def text(self, as_flag: bool = False) -> str:
        """The message; with ``as_flag``, a leading setting name becomes ``--name``."""
        message = str(self)
        if as_flag and self.setting and message.startswith(self.setting):
            return "--" + self.setting.replace("_", "-") + message[len(self.setting) :]
        return message


@dataclass(frozen=True)
class RunSettings:
    """A run as asked for. ``model`` is ``"builder"``, a REPL variable's name, or (for
    ``dltui train``) the spec file's path; ``data`` a source for ``load_data``."""

    model: str = BUILDER
    data: str = DEFAULT_DATA
    config: TrainConfig = field(default_factory=TrainConfig)


@dataclass(frozen=True)
class FormField:
    """One row of the monitor's settings form."""

    name: str  # a RunSettings field, or a TrainConfig one
    label: str
    default: str
    hint: str
    choices: tuple[str, ...] = ()  # a fixed list: no other value is accepted


def _default(name: str) -> str:
    value = getattr(TrainConfig(), name)
    return number_text(value, "g") if isinstance(value, float) else str(value)


FORM_FIELDS: tuple[FormField, ...] = (
    FormField("model", "model", BUILDER, "builder, or a REPL variable name"),
    FormField(
        "data",
        "data",
        DEFAULT_DATA,
        "spirals moons circles xor sine linear, a file, or a REPL name",
    ),
    FormField(
        "loss", "loss", _default("loss"), " ".join((LOSS_AUTO, *LOSSES)), (LOSS_AUTO, *LOSSES)
    ),
    FormField("optimizer", "optimizer", _default("optimizer"), " ".join(OPTIMIZERS), OPTIMIZERS),
    FormField("lr", "lr", _default("lr"), "learning rate"),
    FormField("batch_size", "batch", _default("batch_size"), "batch size"),
    FormField("epochs", "epochs", _default("epochs"), "epochs"),
    FormField("schedule", "schedule", _default("schedule"), " ".join(SCHEDULES), tuple(SCHEDULES)),
    FormField("precision", "precision", _default("precision"), "32 bf16 fp16", PRECISIONS),
    FormField("compile", "compile", "off", "torch.compile the model", ("off", "on")),
    # Empty: chosen from the machine's cores when the run starts (config.json says).
    FormField("workers", "workers", "", "auto"),
    # Empty: the REPL's device, which the app knows and the engine does not.
    FormField("device", "device", "", "REPL's device"),
)

DEVICE_PATTERN = re.compile(r"(cpu|mps|cuda(:\d{1,3})?)")
DEVICE_CHOICES = "cpu, cuda, cuda:N, mps (empty: the REPL's device)"


def form_defaults() -> dict[str, str]:
    """Each form field's starting text."""
    return {f.name: f.default for f in FORM_FIELDS}


_CONFIG_FIELDS = {f.name: f.type for f in fields(TrainConfig)}


def _convert(name: str, text: str) -> Any:
    if name == "compile":
        return text == "on"
    kind = {"lr": float, "batch_size": int, "epochs": int, "workers": int}.get(name, str)
    if kind is str:
        return text
    try:
        return kind(text)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise PrepareError(f"{name}: {text!r} is not {noun}", setting=name) from None


def settings_from_form(form: Mapping[str, str], device: str) -> RunSettings:
    """The settings for the form's text; an empty field takes its default, an empty
    device ``device`` (the REPL's). Raises :class:`PrepareError` naming the field."""
    text = {name: value.strip() for name, value in form.items()}
    changes: dict[str, Any] = {}
    for f in FORM_FIELDS:
        if f.name in ("model", "data") or f.name not in _CONFIG_FIELDS:
            continue
        value = text.get(f.name, "")
        if value and f.choices and value not in f.choices:
            raise PrepareError(
                f"{f.name} {value[:40]!r} is not one of {', '.join(f.choices)}", setting=f.name
            )
        if value:
            changes[f.name] = _convert(f.name, value)
    typed = text.get("device", "")
    if typed and not DEVICE_PATTERN.fullmatch(typed):
        raise PrepareError(
            f"device {typed[:40]!r} is not a device name: use {DEVICE_CHOICES}", setting="device"
        )
    changes["device"] = typed or device
    try:
        config = make_config(changes)
    except ValueError as exc:
        raise PrepareError(str(exc)) from None
    return RunSettings(
        model=text.get("model") or BUILDER,
        # An empty data field is left empty: load_data then lists what it accepts.
        data=text.get("data", ""),
        config=config,
    )


def form_from_config(config: Mapping[str, Any] | None) -> dict[str, str]:
    """The form's text for a run's ``config.json`` (as ``read_config`` returns it): what
    ``dltui watch`` shows of the watched run. Fields it lacks, or holds in a form that
    is not a plain value, are left out."""
    if not isinstance(config, Mapping):
        return {}
    train = config.get("train")
    train = train if isinstance(train, Mapping) else {}
    out: dict[str, str] = {}
    model = config.get("spec_path") or config.get("model")
    if isinstance(model, str):
        out["model"] = model
    if isinstance(config.get("data"), str):
        out["data"] = config["data"]
    for f in FORM_FIELDS:
        value = train.get(f.name)
        if f.name == "compile" and isinstance(value, bool):
            out[f.name] = "on" if value else "off"
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            continue
        out[f.name] = number_text(value, "g") if isinstance(value, float) else str(value)
    return {k: v[:200] for k, v in out.items()}
