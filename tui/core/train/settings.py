"""What a user asks of a run, before anything is loaded: the model, the data, the config.

The monitor's form and ``dltui train``'s options both end in a :class:`RunSettings`,
whose defaults are :class:`TrainConfig`'s. :func:`settings_from_form` turns the form's
text into settings (the widget only collects the text); :data:`FORM_FIELDS` lists the
fields with their defaults and hints. A problem is a :class:`PrepareError` naming the
setting, worded the same for both front ends.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from tui.core.text import number_text
from tui.core.train.config import (
    DEFAULT_DATA,
    LOSS_AUTO,
    LOSSES,
    OPTIMIZERS,
    TrainConfig,
    make_config,
)

__all__ = [
    "BUILDER",
    "FORM_FIELDS",
    "FormField",
    "PrepareError",
    "RunSettings",
    "form_defaults",
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
    FormField("loss", "loss", _default("loss"), " ".join((LOSS_AUTO, *LOSSES))),
    FormField("optimizer", "optimizer", _default("optimizer"), " ".join(OPTIMIZERS)),
    FormField("lr", "lr", _default("lr"), "learning rate"),
    FormField("batch_size", "batch", _default("batch_size"), "batch size"),
    FormField("epochs", "epochs", _default("epochs"), "epochs"),
    # Empty: the REPL's device, which the app knows and the engine does not.
    FormField("device", "device", "", "REPL's device"),
)


def form_defaults() -> dict[str, str]:
    """Each form field's starting text."""
    return {f.name: f.default for f in FORM_FIELDS}


_CONFIG_FIELDS = {f.name: f.type for f in fields(TrainConfig)}


def _convert(name: str, text: str) -> Any:
    kind = {"lr": float, "batch_size": int, "epochs": int}.get(name, str)
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
        if value:
            changes[f.name] = _convert(f.name, value)
    changes["device"] = text.get("device") or device
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
