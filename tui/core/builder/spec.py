"""Layer stacks and their JSON spec: what a stack is, how it is read, checked and saved.

A :class:`LayerStack` is an input shape (batch dimension left out), its dtype and a list
of :class:`LayerSpec` (a catalogue layer type and its arguments). The spec format is
``{"format": 1, "input_shape": [1, 28, 28], "layers": [{"type": "Flatten"}, ...]}``;
every reading error is a :class:`SpecError` whose one line names the place (file, line
and column for JSON, the field for a spec).

Shapes, parameters and errors of a stack come from :mod:`tui.core.builder.propagate`,
code and real modules from :mod:`tui.core.builder.codegen`.
"""

from __future__ import annotations

import copy
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from tui.core.atomic import write_text_atomic
from tui.core.builder.catalogue import (
    AUTO,
    CATALOGUE,
    coerce_arg,
    did_you_mean,
    to_json_value,
    value_text,
)

SPEC_FORMAT = 1
"""The ``format`` number this module reads and writes."""

INPUT_DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
}

_SPEC_FIELDS = ("format", "input_shape", "input_dtype", "layers")

_MAX_PLACE, _MAX_MESSAGE = 200, 280
"""Bounds of a SpecError's two parts: a key read from a file can be a megabyte long, and
the error is one line on a terminal."""


def _cut(text: str, limit: int, middle: bool = False) -> str:
    if len(text) <= limit:
        return text
    if middle:  # a place: keep the file's start and the field at the end
        half = (limit - 1) // 2
        return text[:half] + "…" + text[-half:]
    return text[: limit - 1] + "…"


class SpecError(ValueError):
    """A stack spec that cannot be used; ``str()`` is one line naming the place.

    ``place`` is where (``spec.json:3:14``, ``layers[1].out_features``), ``message`` what.
    """

    def __init__(self, place: str, message: str) -> None:
        # A key from a file may hold newlines or escapes: the line stays one line.
        self.place = _cut(re.sub(r"[\x00-\x1f\x7f]+", " ", place), _MAX_PLACE, middle=True)
        self.message = _cut(" ".join(message.split()), _MAX_MESSAGE)
        super().__init__(f"{self.place}: {self.message}" if self.place else self.message)


@dataclass
class LayerSpec:
    """One layer of a stack: a catalogue type name and the arguments set on it.

    ``args`` holds only what was set; missing optional arguments take the torch
    default. Values are ints, floats, bools, strings, tuples, None or ``"auto"``.
    """

    type: str
    args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, type_name: str) -> LayerSpec:
        """A fresh layer with every auto-capable argument set to ``"auto"``."""
        return cls(type_name, {name: AUTO for name in CATALOGUE[type_name].auto_args})

    def to_dict(self) -> dict[str, Any]:
        """The layer as a JSON object: ``{"type": "Linear", "out_features": 10}``."""
        return {"type": self.type, **{k: to_json_value(v) for k, v in self.args.items()}}

    @classmethod
    def from_dict(cls, data: Any, place: str = "layer") -> LayerSpec:
        """Read and check one layer object; ``SpecError`` names ``place`` and the field."""
        if not isinstance(data, dict):
            raise SpecError(
                place, f'expected an object like {{"type": "Linear"}}, got {value_text(data)}'
            )
        type_name = data.get("type")
        if not isinstance(type_name, str):
            raise SpecError(place, 'missing "type" (the torch.nn class name, e.g. "Linear")')
        ltype = CATALOGUE.get(type_name)
        if ltype is None:
            hint = did_you_mean(type_name, CATALOGUE)
            raise SpecError(place, f"unknown layer type {type_name!r}{hint}")
        names = [p.name for p in ltype.params]
        args: dict[str, Any] = {}
        for key, value in data.items():
            if key == "type":
                continue
            if key not in names:
                extra = did_you_mean(key, names) or f" (it takes {', '.join(names) or 'none'})"
                raise SpecError(f"{place}.{key}", f"{type_name} has no such argument{extra}")
            try:
                args[key] = coerce_arg(ltype.arg(key), value)
            except ValueError as exc:
                raise SpecError(f"{place}.{key}", str(exc)) from None
        for spec in ltype.params:
            if spec.required and spec.name not in args:
                raise SpecError(f"{place}.{spec.name}", "missing required argument")
        return cls(type_name, args)


@dataclass
class LayerStack:
    """An input shape (batch dimension left out), its dtype, and the layers in order."""

    input_shape: tuple[int, ...]
    input_dtype: str = "float32"
    layers: list[LayerSpec] = field(default_factory=list)

    def copy(self) -> LayerStack:
        """A deep copy, to edit a preset without changing the shared one."""
        return copy.deepcopy(self)

    def to_dict(self) -> dict[str, Any]:
        """The stack in the JSON spec format (``input_dtype`` only when not float32)."""
        data: dict[str, Any] = {"format": SPEC_FORMAT, "input_shape": list(self.input_shape)}
        if self.input_dtype != "float32":
            data["input_dtype"] = self.input_dtype
        data["layers"] = [layer.to_dict() for layer in self.layers]
        return data

    @classmethod
    def from_dict(cls, data: Any) -> LayerStack:
        """Read and check a spec object; ``SpecError`` names the first bad field.

        Any value at all (what ``json.loads`` returns, or anything a script passes) gives
        a stack or a ``SpecError``, never another exception.
        """
        try:
            return cls._from_dict(data)
        except RecursionError:
            # Values nested deeper than the interpreter's stack, built in Python (a file
            # that deep fails earlier, in load_spec_file).
            raise SpecError("spec", "nested too deeply") from None

    @classmethod
    def _from_dict(cls, data: Any) -> LayerStack:
        if not isinstance(data, dict):
            raise SpecError("spec", "expected a JSON object with format, input_shape, layers")
        for key in data:
            if key not in _SPEC_FIELDS:
                hint = did_you_mean(key, _SPEC_FIELDS) or f" (expected {', '.join(_SPEC_FIELDS)})"
                raise SpecError(key, f"unknown field{hint}")
        if "format" not in data:
            raise SpecError("format", f"missing (this version reads format {SPEC_FORMAT})")
        fmt = data["format"]
        if type(fmt) is not int or fmt != SPEC_FORMAT:  # 1.0 and true are not format 1
            raise SpecError(
                "format", f"unsupported format {value_text(fmt)} (expected {SPEC_FORMAT})"
            )
        if "input_shape" not in data:
            raise SpecError(
                "input_shape", "missing: give the shape without batch, e.g. [1, 28, 28]"
            )
        try:
            shape = check_shape(data["input_shape"])
        except ValueError as exc:
            raise SpecError("input_shape", str(exc)) from None
        dtype = data.get("input_dtype", "float32")
        if not isinstance(dtype, str) or dtype not in INPUT_DTYPES:
            raise SpecError(
                "input_dtype", f"expected one of {', '.join(INPUT_DTYPES)}, got {value_text(dtype)}"
            )
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise SpecError("layers", "expected a list of layer objects")
        specs = [LayerSpec.from_dict(item, f"layers[{i}]") for i, item in enumerate(layers)]
        return cls(shape, dtype, specs)


def check_shape(value: Any) -> tuple[int, ...]:
    """A shape given as a list of positive ints; ``ValueError`` names what was given."""
    ok = isinstance(value, (list, tuple)) and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    )
    if not ok or not value:
        raise ValueError(
            f"expected a list of positive ints like [1, 28, 28], got {value_text(value)}"
        )
    return tuple(value)


def parse_shape(text: str) -> tuple[int, ...]:
    """Read a shape typed by a user: ``1,28,28``, ``1x28x28`` or ``(1, 28, 28)``."""
    body = text.strip().strip("()[]")
    parts = [p for p in re.split(r"[,x×\s]+", body) if p]
    try:
        return check_shape([int(p) for p in parts])
    except ValueError:
        raise ValueError(f"expected a shape like 1,28,28 or 1x28x28, got {text!r}") from None


def parse_input(text: str) -> tuple[tuple[int, ...], str]:
    """Read an input typed by a user: a shape, then optionally a dtype (``32 int64``)."""
    parts = text.replace("x", ",").split()
    dtype = "float32"
    if parts and parts[-1] in INPUT_DTYPES:
        dtype = parts.pop()
    return parse_shape(" ".join(parts)), dtype


def input_text(stack: LayerStack) -> str:
    """A stack's input as :func:`parse_input` reads it: ``1, 28, 28`` or ``32 int64``."""
    text = ", ".join(str(s) for s in stack.input_shape)
    return text if stack.input_dtype == "float32" else f"{text} {stack.input_dtype}"


def spec_to_json(stack: LayerStack) -> str:
    """The spec as JSON text, one layer per line so that diffs stay readable."""
    data = stack.to_dict()
    head = [f'  "{k}": {json.dumps(v)}' for k, v in data.items() if k != "layers"]
    layers = ",\n".join("    " + json.dumps(layer) for layer in data["layers"])
    body = f'  "layers": [\n{layers}\n  ]' if layers else '  "layers": []'
    return "{\n" + ",\n".join([*head, body]) + "\n}\n"


def load_spec_file(path: str | os.PathLike[str]) -> LayerStack:
    """Read a spec file; ``SpecError`` starts with the file (and line:col for JSON)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise SpecError(str(path), f"cannot read: {reason}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}:{exc.lineno}:{exc.colno}", exc.msg) from None
    except RecursionError:
        # json recurses once per bracket: "[" * 100_000 exhausts the stack.
        raise SpecError(str(path), "nested too deeply to be a stack spec") from None
    except MemoryError:
        raise SpecError(str(path), "too large to read as a stack spec") from None
    except ValueError as exc:  # an int literal over Python's 4300-digit limit
        raise SpecError(str(path), str(exc).split(";")[0]) from None
    try:
        return LayerStack.from_dict(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc.place}", exc.message) from None


def save_spec_file(stack: LayerStack, path: str | os.PathLike[str]) -> None:
    """Write a spec file atomically: a reader sees the old file or the new, never half."""
    write_text_atomic(path, spec_to_json(stack))
