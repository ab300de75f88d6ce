"""The layer catalogue: which ``torch.nn`` layers the builder offers, and their arguments.

Arguments, their types and defaults are read from ``inspect.signature`` of the torch class
itself, so the catalogue follows the installed torch instead of a hand-kept copy that
would drift. What a signature cannot say is kept here by hand, small and explicit:
each layer's category, which arguments can be ``"auto"`` (filled by shape propagation),
and the strings a plain ``str`` annotation allows (``Conv2d(padding="same")``).

A form edits an argument as text: :func:`parse_arg` turns that text into a value or
raises ``ValueError`` with a message fit to show under the field; :func:`format_arg`
turns a value back into text that parses to the same value. :func:`coerce_arg` does the
same for a value read from a JSON spec.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import re
import reprlib
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

AUTO = "auto"
"""The argument value that asks shape propagation to fill the argument in."""

ArgKind = Literal["int", "float", "bool", "str", "ints", "any"]

# Category of each offered layer, in the order a picker lists them.
_CATEGORIES: dict[str, str] = {
    "Linear": "linear",
    "Conv1d": "conv",
    "Conv2d": "conv",
    "ConvTranspose2d": "conv",
    "MaxPool1d": "pool",
    "MaxPool2d": "pool",
    "AvgPool2d": "pool",
    "AdaptiveAvgPool2d": "pool",
    "BatchNorm1d": "norm",
    "BatchNorm2d": "norm",
    "LayerNorm": "norm",
    "Embedding": "embedding",
    "ReLU": "activation",
    "LeakyReLU": "activation",
    "GELU": "activation",
    "SiLU": "activation",
    "Tanh": "activation",
    "Sigmoid": "activation",
    "Softmax": "activation",
    "LogSoftmax": "activation",
    "Flatten": "shape",
    "Unflatten": "shape",
    "Identity": "shape",
    "Dropout": "regularization",
}

# Arguments that follow from the incoming shape; see layers.py for how each is resolved.
_AUTO_ARGS: dict[str, frozenset[str]] = {
    "Linear": frozenset({"in_features"}),
    "Conv1d": frozenset({"in_channels"}),
    "Conv2d": frozenset({"in_channels"}),
    "ConvTranspose2d": frozenset({"in_channels"}),
    "BatchNorm1d": frozenset({"num_features"}),
    "BatchNorm2d": frozenset({"num_features"}),
    "LayerNorm": frozenset({"normalized_shape"}),
    "Unflatten": frozenset({"unflattened_size"}),
}

# Annotations say `str` without the allowed strings; these come from the torch docs.
_STR_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("Conv1d", "padding"): ("same", "valid"),
    ("Conv2d", "padding"): ("same", "valid"),
    ("GELU", "approximate"): ("none", "tanh"),
}

# The least value of each size-like argument, by name (the same meaning in every layer
# that has it). torch builds Linear(2, 0) or a kernel of 0 without a word and only fails,
# if ever, deep inside a training step: a spec or a form refuses them up front.
_POSITIVE = """in_features out_features in_channels out_channels kernel_size stride dilation
groups num_features normalized_shape output_size num_embeddings embedding_dim divisor_override"""
_MINIMUM: dict[str, int] = {
    **dict.fromkeys(_POSITIVE.split(), 1),
    "padding": 0,
    "output_padding": 0,
}

# Constructor arguments a builder has no use for: placement is the builder's business,
# and underscore arguments (Embedding's _weight, _freeze) are private to torch.
_SKIPPED_ARGS = frozenset({"device", "dtype"})


@dataclass(frozen=True)
class ArgSpec:
    """One constructor argument of a catalogue layer.

    ``kind`` is how the value is written: ``"int"``, ``"float"``, ``"bool"``, ``"str"``,
    ``"ints"`` (a tuple of ints, or a single int where ``scalar_ok``; ``kernel_size``,
    ``normalized_shape``) or ``"any"`` (a Python literal, when the annotation says
    nothing usable). ``default`` is ``None`` for a required argument.
    """

    name: str
    kind: ArgKind
    default: Any
    required: bool
    auto_capable: bool
    nullable: bool = False
    choices: tuple[str, ...] = ()
    """Allowed strings: all the values of a ``"str"`` arg, the alternatives of ``"ints"``."""
    length: int | None = None
    """For ``"ints"``: the tuple length the class expects, or ``None`` for any length."""
    scalar_ok: bool = True
    """For ``"ints"``: whether a single int is accepted in place of a tuple."""
    none_items: bool = False
    """For ``"ints"``: whether tuple items may be ``None`` (AdaptiveAvgPool2d)."""
    minimum: int | None = None
    """For ``"int"`` / ``"ints"``: the least value (of every item), or None for any."""

    def describe(self) -> str:
        """What a valid value looks like, in words: ``int or tuple of 2 ints``."""
        if self.kind == "ints":
            item = "int or None" if self.none_items else "int"
            n = f"{self.length} " if self.length else ""
            plural = "" if self.length == 1 else "s"
            seq = (
                f"tuple of {n}{item}{plural}" if not self.none_items else f"tuple of {n}ints/Nones"
            )
            text = f"int or {seq}" if self.scalar_ok else seq
            if self.choices:
                text += ", or " + " or ".join(repr(c) for c in self.choices)
        elif self.kind == "str" and self.choices:
            text = "one of " + ", ".join(repr(c) for c in self.choices)
        elif self.kind == "any":
            text = "a Python literal"
        else:
            text = self.kind
        if self.nullable:
            text += " or None"
        if self.auto_capable:
            text += " or 'auto'"
        return text


@dataclass(frozen=True)
class LayerType:
    """A layer the builder offers: a ``torch.nn`` class and what its arguments are."""

    name: str
    category: str
    doc: str
    params: list[ArgSpec]
    cls: type[nn.Module]

    def arg(self, name: str) -> ArgSpec:
        """The argument called ``name``; ``KeyError`` if the layer has none."""
        for spec in self.params:
            if spec.name == name:
                return spec
        raise KeyError(name)

    @property
    def auto_args(self) -> list[str]:
        """Names of the arguments that accept ``"auto"``."""
        return [p.name for p in self.params if p.auto_capable]


def _union_members(tp: Any) -> list[Any]:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return [m for a in typing.get_args(tp) for m in _union_members(a)]
    return [tp]


def _sequence_items(tp: Any) -> tuple[Any, int | None] | None:
    """(item type, fixed length or None) if ``tp`` is a tuple/list/Size type, else None."""
    if tp is torch.Size or tp in (tuple, list):
        return int, None
    origin = typing.get_origin(tp)
    if origin not in (tuple, list):
        return None
    args = typing.get_args(tp)
    if not args:
        return int, None
    if origin is list or (len(args) == 2 and args[1] is Ellipsis):
        return args[0], None
    return args[0], len(args)


def _resolved_hints(cls: type) -> dict[str, Any]:
    # Older torch releases postpone some annotations as strings; get_type_hints
    # evaluates them. When that fails a string stays, and the default decides the kind.
    try:
        return typing.get_type_hints(cls.__init__)
    except Exception:
        return dict(getattr(cls.__init__, "__annotations__", {}))


def _arg_from_parameter(layer: str, param: inspect.Parameter, hint: Any) -> ArgSpec | None:
    required = param.default is inspect.Parameter.empty
    default = None if required else param.default
    members = [] if hint is None or isinstance(hint, str) else _union_members(hint)
    nullable = type(None) in members or (not required and default is None)
    choices: tuple[str, ...] = _STR_CHOICES.get((layer, param.name), ())
    kind: ArgKind | None = None
    length, scalar_ok, none_items = None, True, False
    for member in members:
        if member is torch.Tensor:
            return None  # a tensor argument (a preset weight) cannot be written in a form
        if typing.get_origin(member) is Literal:
            choices = tuple(str(c) for c in typing.get_args(member))
    seqs = [s for m in members if (s := _sequence_items(m)) is not None]
    if seqs:
        item, length = seqs[0]
        kind, scalar_ok = "ints", int in members
        none_items = type(None) in _union_members(item)
    elif choices or str in members:
        kind = "str"
    elif bool in members:
        kind = "bool"
    elif float in members:
        kind = "float"
    elif int in members:
        kind = "int"
    elif isinstance(default, bool):
        kind = "bool"
    elif isinstance(default, (int, float, str)):
        kind = type(default).__name__  # type: ignore[assignment]
    else:
        kind = "any"
    return ArgSpec(
        name=param.name,
        kind=kind,
        default=default,
        required=required,
        auto_capable=param.name in _AUTO_ARGS.get(layer, ()),
        nullable=nullable,
        choices=choices,
        length=length,
        scalar_ok=scalar_ok,
        none_items=none_items,
        minimum=_MINIMUM.get(param.name) if kind in ("int", "ints") else None,
    )


def _one_line_doc(cls: type) -> str:
    """The first sentence of the class docstring, with reST markup taken out."""
    paragraph = (inspect.getdoc(cls) or "").split("\n\n")[0]
    text = " ".join(paragraph.split())
    text = re.sub(r":\w+:`~?([^`]*)`", r"\1", text).replace("``", "")
    text = re.sub(r"\\\w+\{([^}]*)\}", r"\1", text)  # \text{Softmax} -> Softmax
    text = re.sub(r"\\(\w+)", r"\1", text)  # \log -> log
    sentence = re.split(r"(?<=[a-z)])\.\s", text + " ", maxsplit=1)[0].strip()
    return sentence.rstrip(".") + "."


def _layer_type(name: str, category: str) -> LayerType:
    cls = getattr(nn, name)
    hints = _resolved_hints(cls)
    params = []
    for param in inspect.signature(cls).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        if param.name in _SKIPPED_ARGS or param.name.startswith("_"):
            continue
        spec = _arg_from_parameter(name, param, hints.get(param.name))
        if spec is not None:
            params.append(spec)
    return LayerType(name, category, _one_line_doc(cls), params, cls)


CATALOGUE: dict[str, LayerType] = {
    name: _layer_type(name, category) for name, category in _CATEGORIES.items() if hasattr(nn, name)
}
"""Every layer the builder offers, by ``torch.nn`` class name."""


def layer_type(name: str | LayerType) -> LayerType:
    """The catalogue entry for ``name``; ``ValueError`` naming the nearest if unknown."""
    if isinstance(name, LayerType):
        return name
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ValueError(f"unknown layer type {name!r}{did_you_mean(name, CATALOGUE)}") from None


def did_you_mean(word: str, options: typing.Iterable[str]) -> str:
    """`` (did you mean 'X'?)`` for the closest option, or an empty string."""
    options = list(options)
    lowered = {o.lower(): o for o in options}
    close = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[close[0]]!r}?)" if close else ""


# --- values as text (a form) and as JSON (a spec file) ---------------------------------

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}
_NONE = {"none", "null"}


def parse_arg(layer: str | LayerType, name: str, text: str) -> Any:
    """Parse the text of one argument as a form field holds it.

    Empty text means the default (or raises for a required argument). Returns ``"auto"``
    for an argument that accepts it, tuples for ``kernel_size``-like arguments.

    Raises:
        ValueError: the text does not fit; the message says what was expected.
    """
    ltype = layer_type(layer)
    try:
        spec = ltype.arg(name)
    except KeyError:
        names = [p.name for p in ltype.params]
        raise ValueError(
            f"{ltype.name} has no argument {name!r}{did_you_mean(name, names)}"
        ) from None
    return _parse_text(spec, text)


def _parse_text(spec: ArgSpec, text: str) -> Any:
    stripped = text.strip()
    if not stripped:
        if spec.required:
            raise ValueError("missing required argument")
        return spec.default
    low = stripped.lower()
    if low == AUTO and spec.auto_capable:
        return AUTO
    if spec.kind in ("str", "ints") and stripped.strip("'\"") in spec.choices:
        return stripped.strip("'\"")
    if spec.nullable and low in _NONE:
        return None
    bad = ValueError(f"expected {spec.describe()}, got {stripped!r}")
    if spec.kind == "bool":
        if low in _TRUE or low in _FALSE:
            return low in _TRUE
        raise bad
    if spec.kind == "int":
        return _check_minimum(spec, _parse_int(stripped, bad))
    if spec.kind == "float":
        try:
            return float(stripped)
        except ValueError:
            raise bad from None
    if spec.kind == "str":
        if spec.choices:
            raise bad
        return stripped.strip("'\"")
    if spec.kind == "ints":
        opened = stripped[:1] in "([" and stripped[-1:] in ")]"
        body = stripped[1:-1] if opened else stripped
        parts = [p for p in re.split(r"[,x\s]+", body.strip()) if p]
        if not parts:
            raise bad
        items = tuple(
            None if spec.none_items and p.lower() in _NONE else _parse_int(p, bad) for p in parts
        )
        if len(items) == 1 and spec.scalar_ok and not opened and "," not in body:
            return _check_minimum(spec, items[0])
        return _check_ints(spec, items, bad)
    try:
        return ast.literal_eval(stripped)
    except (ValueError, SyntaxError, TypeError, RecursionError, MemoryError):
        # literal_eval recurses on nesting and builds whatever it reads: a pasted
        # "((((...))))" must come back as this field's error, not take the form down.
        raise bad from None


def _parse_int(text: str, bad: ValueError) -> int:
    try:
        return int(text)
    except ValueError:
        raise bad from None


def _check_ints(spec: ArgSpec, items: tuple[Any, ...], bad: ValueError) -> tuple[Any, ...]:
    if spec.length is not None and len(items) != spec.length:
        raise bad
    return _check_minimum(spec, items)


def _check_minimum(spec: ArgSpec, value: Any) -> Any:
    """``value`` (an int or a tuple of ints and Nones) if no part is below the minimum."""
    if spec.minimum is None:
        return value
    items = value if isinstance(value, tuple) else (value,)
    if any(isinstance(v, int) and v < spec.minimum for v in items):
        every = "every size " if isinstance(value, tuple) else ""
        raise ValueError(f"{every}must be at least {spec.minimum}, got {value_text(value)}")
    return value


def coerce_arg(spec: ArgSpec, value: Any) -> Any:
    """Check a value read from JSON and return it in the form the stack keeps.

    Lists become tuples, ints become floats for float arguments; a string where a number
    is expected is parsed as form text would be (``"3"``, ``"(3, 3)"``).

    Raises:
        ValueError: the value does not fit; the message says what was expected.
    """
    if isinstance(value, str) and not (spec.kind == "str" and value in spec.choices):
        if spec.kind == "str" and not spec.choices and value.lower() != AUTO:
            return value
        return _parse_text(spec, value)
    bad = ValueError(f"expected {spec.describe()}, got {value_text(value)}")
    if value is None:
        if spec.nullable:
            return None
        raise bad
    kind = spec.kind
    if kind == "bool":
        if isinstance(value, bool):
            return value
        raise bad
    if isinstance(value, bool):
        raise bad
    if kind == "int" and isinstance(value, int):
        return _check_minimum(spec, value)
    if kind == "float" and isinstance(value, (int, float)):
        return float(value)
    if kind == "str" and isinstance(value, str):
        return value
    if kind == "ints":
        if isinstance(value, int) and spec.scalar_ok:
            return _check_minimum(spec, value)
        if isinstance(value, (list, tuple)) and value:
            ok = all(
                (isinstance(v, int) and not isinstance(v, bool)) or (v is None and spec.none_items)
                for v in value
            )
            if ok:
                return _check_ints(spec, tuple(value), bad)
        raise bad
    if kind == "any":
        return tuple(value) if isinstance(value, list) else value
    raise bad


class _BriefRepr(reprlib.Repr):
    """reprlib's bounded repr, also for ints too long for ``repr`` (over 4300 digits)."""

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > 256:  # ~77 digits: more than anyone reads, and repr may refuse
            digits = int(x.bit_length() * 0.30103) + 1
            return f"{'-' if x < 0 else ''}<an int of about {digits} digits>"
        return super().repr_int(x, level)


_BRIEF = _BriefRepr()
_BRIEF.maxlevel, _BRIEF.maxstring, _BRIEF.maxother = 3, 60, 60
_BRIEF.maxlist = _BRIEF.maxtuple = _BRIEF.maxdict = 8


def value_text(value: Any) -> str:
    """A value for an error message, bounded: a value read from a spec file can be nested
    100,000 deep or hold a 10**5000 int, whose plain repr would raise or fill the screen.
    """
    try:
        return _BRIEF.repr(value)
    except Exception:  # a user object's __repr__ from a REPL module
        return f"<{type(value).__name__}>"


def format_arg(value: Any) -> str:
    """Text for a form field that :func:`parse_arg` reads back as ``value``."""
    if isinstance(value, tuple):
        inner = ", ".join(format_arg(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def to_json_value(value: Any) -> Any:
    """A stack value as JSON holds it: tuples become lists."""
    if isinstance(value, tuple):
        return [to_json_value(v) for v in value]
    return value
