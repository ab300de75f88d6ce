"""Layer stacks: the JSON spec, shapes for free on the meta device, totals and code export.

A :class:`LayerStack` is an input shape and a list of :class:`LayerSpec` (a catalogue
layer type and its arguments). :func:`propagate` builds every layer under
``torch.device("meta")`` and runs it on an empty meta tensor of batch 1, so output
shapes and parameter counts cost no memory, even for a 10-billion-parameter layer.

Speed: the first meta call in a process costs about a second (kernel loading), so the
app calls :func:`warm_up` off the UI thread at start. After that, a meta call costs
0.1-5 ms depending on the op (many meta kernels are Python decompositions), so two
caches keep an edit cheap: a :class:`Propagator` keeps the rows of the last run and
re-runs only from the edited row down, and a process-wide memo maps (layer, resolved
arguments, input shape, dtype) to the outcome, so repeated blocks are built once.

``"auto"`` arguments are filled from the incoming shape (batch dimension left out):

- ``Linear.in_features``: the last dim;
- ``Conv1d/Conv2d/ConvTranspose2d.in_channels``, ``BatchNorm1d/2d.num_features``:
  the first dim (channels first);
- ``LayerNorm.normalized_shape``: the last dim;
- ``Unflatten.unflattened_size``: the dims that the nearest ``Flatten`` above folded
  into a dim of the size being unflattened (an autoencoder's decoder undoing its
  encoder's Flatten). Without such a Flatten there is nothing sensible to guess, and
  the row says so.

A row whose input does not fit gets ``error`` in plain words and, where one argument
would fix it, ``fit`` (``{"in_features": 28}``). Rows below have no shapes and
``blocked=True``.

Mult-adds count one multiply-accumulate per weight use for batch 1, bias adds left
out: Linear ``in * out * (positions)``, Conv ``weight.numel() * output positions``,
ConvTranspose ``weight.numel() * input positions``; other layers have ``None``.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import sys
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tui.core.atomic import write_text_atomic
from tui.core.builder.catalogue import (
    AUTO,
    CATALOGUE,
    LayerType,
    coerce_arg,
    did_you_mean,
    to_json_value,
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


class SpecError(ValueError):
    """A stack spec that cannot be used; ``str()`` is one line naming the place.

    ``place`` is where (``spec.json:3:14``, ``layers[1].out_features``), ``message`` what.
    """

    def __init__(self, place: str, message: str) -> None:
        self.place = place
        self.message = " ".join(message.split())
        super().__init__(f"{place}: {self.message}" if place else self.message)


# --- the stack ---------------------------------------------------------------------


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
            raise SpecError(place, f'expected an object like {{"type": "Linear"}}, got {data!r}')
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
        """Read and check a spec object; ``SpecError`` names the first bad field."""
        if not isinstance(data, dict):
            raise SpecError("spec", "expected a JSON object with format, input_shape, layers")
        for key in data:
            if key not in _SPEC_FIELDS:
                hint = did_you_mean(key, _SPEC_FIELDS) or f" (expected {', '.join(_SPEC_FIELDS)})"
                raise SpecError(key, f"unknown field{hint}")
        if "format" not in data:
            raise SpecError("format", f"missing (this version reads format {SPEC_FORMAT})")
        if data["format"] != SPEC_FORMAT or isinstance(data["format"], bool):
            raise SpecError(
                "format", f"unsupported format {data['format']!r} (expected {SPEC_FORMAT})"
            )
        if "input_shape" not in data:
            raise SpecError(
                "input_shape", "missing: give the shape without batch, e.g. [1, 28, 28]"
            )
        try:
            shape = _check_shape(data["input_shape"])
        except ValueError as exc:
            raise SpecError("input_shape", str(exc)) from None
        dtype = data.get("input_dtype", "float32")
        if not isinstance(dtype, str) or dtype not in INPUT_DTYPES:
            raise SpecError(
                "input_dtype", f"expected one of {', '.join(INPUT_DTYPES)}, got {dtype!r}"
            )
        layers = data.get("layers")
        if not isinstance(layers, list):
            raise SpecError("layers", "expected a list of layer objects")
        specs = [LayerSpec.from_dict(item, f"layers[{i}]") for i, item in enumerate(layers)]
        return cls(shape, dtype, specs)


def _check_shape(value: Any) -> tuple[int, ...]:
    ok = isinstance(value, (list, tuple)) and all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value
    )
    if not ok or not value:
        raise ValueError(f"expected a list of positive ints like [1, 28, 28], got {value!r}")
    return tuple(value)


def parse_shape(text: str) -> tuple[int, ...]:
    """Read a shape typed by a user: ``1,28,28``, ``1x28x28`` or ``(1, 28, 28)``."""
    body = text.strip().strip("()[]")
    parts = [p for p in re.split(r"[,x×\s]+", body) if p]
    try:
        return _check_shape([int(p) for p in parts])
    except ValueError:
        raise ValueError(f"expected a shape like 1,28,28 or 1x28x28, got {text!r}") from None


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
    try:
        return LayerStack.from_dict(data)
    except SpecError as exc:
        raise SpecError(f"{path}: {exc.place}", exc.message) from None


def save_spec_file(stack: LayerStack, path: str | os.PathLike[str]) -> None:
    """Write a spec file atomically: a reader sees the old file or the new, never half."""
    write_text_atomic(path, spec_to_json(stack))


# --- shape propagation ---------------------------------------------------------------


@dataclass(frozen=True)
class RowResult:
    """What propagation found for one layer (shapes leave out the batch dimension)."""

    index: int
    type: str
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    params_trainable: int = 0
    params_total: int = 0
    mult_adds: int | None = None
    resolved_args: dict[str, Any] = field(default_factory=dict)
    """The layer's arguments with every ``"auto"`` filled in."""
    error: str | None = None
    """Why this layer cannot run on its input, in plain words; None when it can."""
    fit: dict[str, Any] | None = None
    """Argument values that would make this row fit its input, when some do."""
    blocked: bool = False
    """True when a row above failed, so this one has no input shape to work from."""
    input_dtype: str | None = None
    """The dtype flowing in (``"int64"`` token ids before an Embedding), as a name."""
    output_dtype: str | None = None


class _RowError(Exception):
    def __init__(self, message: str, fit: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fit = fit


def fmt_shape(shape: tuple[int, ...]) -> str:
    """``(1, 28, 28)``; a one-dim shape keeps its comma: ``(784,)``."""
    return repr(tuple(shape))


# Input ranks (batch left out) each layer takes, and how to say them in words. Conv
# layers also accept unbatched input, but with the batch dimension in front a missing
# channel dim would make the batch the channels, so only channels-first is offered.
_RANKS: dict[str, tuple[tuple[int, ...], str]] = {
    "Conv1d": ((2,), "(channels, length)"),
    "Conv2d": ((3,), "(channels, height, width)"),
    "ConvTranspose2d": ((3,), "(channels, height, width)"),
    "BatchNorm1d": ((1, 2), "(features,) or (channels, length)"),
    "BatchNorm2d": ((3,), "(channels, height, width)"),
    "MaxPool1d": ((1, 2), "(channels, length) or (length,)"),
    "MaxPool2d": ((2, 3), "(channels, height, width) or (height, width)"),
    "AvgPool2d": ((2, 3), "(channels, height, width) or (height, width)"),
    "AdaptiveAvgPool2d": ((2, 3), "(channels, height, width) or (height, width)"),
}
_CHANNELS_FIRST = {"Conv1d", "Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d"}
# Layers that pass ints through unchanged; every other non-Embedding layer needs floats.
_DTYPE_NEUTRAL = {"Flatten", "Unflatten", "Identity", "Dropout"}

_MEMO: OrderedDict[Any, tuple[Any, ...]] = OrderedDict()
_MEMO_LOCK = threading.Lock()
_MEMO_SIZE = 4096


def clear_shape_cache() -> None:
    """Forget the process-wide memo of meta-device results (for benchmarks and tests)."""
    with _MEMO_LOCK:
        _MEMO.clear()


def warm_up() -> None:
    """Pay the first meta call's kernel loading (~1 s) now: call it off the UI thread."""
    with torch.device("meta"), torch.no_grad():
        nn.ReLU()(nn.Linear(2, 2)(torch.empty(1, 2)))


def propagate(
    stack: LayerStack, start: int = 0, cache: list[RowResult] | None = None
) -> list[RowResult]:
    """Shapes, parameter counts and errors of every layer, without allocating weights.

    Rows before ``start`` are taken from ``cache`` (the rows of an earlier call) and
    must still hold: only layers at ``start`` or below may have changed since. The
    input shape and dtype must be unchanged too, else pass ``start=0``.
    """
    rows: list[RowResult] = []
    if cache and start > 0:
        rows = list(cache[: min(start, len(cache), len(stack.layers))])
    for index in range(len(rows), len(stack.layers)):
        rows.append(_propagate_row(stack, index, rows))
    return rows


class Propagator:
    """Keeps the rows of the last propagation so that an edit re-runs only below it.

    One per builder, used from one thread at a time (the builder's worker)::

        prop = Propagator()
        rows = prop.update(stack)  # everything
        stack.layers[5].args["out_features"] = 256
        rows = prop.update(stack, 5)  # rows 0-4 kept, 5 and below re-run

    A new input shape or dtype re-runs everything whatever ``from_index`` says; a new
    stack object (a preset loaded) needs ``from_index=0``.
    """

    def __init__(self) -> None:
        self.rows: list[RowResult] = []
        self._input: tuple[tuple[int, ...], str] | None = None

    def update(self, stack: LayerStack, from_index: int = 0) -> list[RowResult]:
        """Re-propagate from row ``from_index`` (the first row edited, inserted or removed)."""
        key = (tuple(stack.input_shape), stack.input_dtype)
        if key != self._input:
            from_index = 0
        self.rows = propagate(stack, start=from_index, cache=self.rows)
        self._input = key
        return self.rows


def _propagate_row(stack: LayerStack, index: int, rows: list[RowResult]) -> RowResult:
    spec = stack.layers[index]
    if index == 0:
        in_shape: tuple[int, ...] | None = tuple(stack.input_shape)
        in_dtype: str | None = stack.input_dtype
    else:
        above = rows[index - 1]
        in_shape, in_dtype = above.output_shape, above.output_dtype
    if in_shape is None or in_dtype is None:
        return RowResult(index, spec.type, None, None, resolved_args=dict(spec.args), blocked=True)
    base = {"index": index, "type": spec.type, "input_shape": in_shape, "input_dtype": in_dtype}
    ltype = CATALOGUE.get(spec.type)
    if ltype is None:
        hint = did_you_mean(spec.type, CATALOGUE)
        return RowResult(**base, output_shape=None, error=f"unknown layer type {spec.type!r}{hint}")
    resolved = dict(spec.args)
    try:
        for name, value in spec.args.items():
            if isinstance(value, str) and value == AUTO:
                resolved[name] = _resolve_auto(ltype, name, resolved, in_shape, rows)
        for arg in ltype.params:
            if arg.required and arg.name not in resolved:
                raise _RowError(f"{ltype.name} needs {arg.name}: set it")
        _check_input(ltype, resolved, in_shape, in_dtype, rows)
    except _RowError as exc:
        return RowResult(
            **base, output_shape=None, resolved_args=resolved, error=exc.message, fit=exc.fit
        )
    out_shape, out_dtype, trainable, total, mult_adds, error, fit = _run_on_meta(
        ltype, resolved, in_shape, in_dtype
    )
    return RowResult(
        **base,
        output_shape=out_shape,
        output_dtype=out_dtype,
        params_trainable=trainable,
        params_total=total,
        mult_adds=mult_adds,
        resolved_args=resolved,
        error=error,
        fit=fit,
    )


def _resolve_auto(
    ltype: LayerType,
    name: str,
    args: dict[str, Any],
    shape: tuple[int, ...],
    rows: list[RowResult],
) -> Any:
    t = ltype.name
    if name not in ltype.auto_args:
        raise _RowError(f"{t}.{name} cannot be 'auto': set it")
    if t == "Linear" or t == "LayerNorm":
        if not shape:
            raise _RowError(f"{t} needs at least one dim but receives a scalar")
        return shape[-1]
    if t in _CHANNELS_FIRST:
        _check_rank(t, shape)
        return shape[0]
    if t == "Unflatten":
        return _unflatten_auto(args, shape, rows)
    raise _RowError(f"{t}.{name} cannot be 'auto': set it")


def _unflatten_auto(args: dict[str, Any], shape: tuple[int, ...], rows: list[RowResult]) -> Any:
    dim = args.get("dim")
    batched = (1, *shape)
    if not isinstance(dim, int) or not -len(batched) <= dim < len(batched):
        raise _RowError(f"Unflatten needs dim (between 1 and {len(shape)}) to fill 'auto'")
    size = batched[dim]
    found = _folded_by_flatten(size, rows)
    if found is None:
        raise _RowError(
            f"Unflatten can fill unflattened_size only to undo a Flatten above that folded "
            f"{size} values, and there is none: set unflattened_size (product {size})"
        )
    return found


def _folded_by_flatten(size: int, rows: list[RowResult]) -> tuple[int, ...] | None:
    """The dims that the nearest Flatten above folded into ``size`` values, if one did."""
    for row in reversed(rows):
        if row.type != "Flatten" or row.input_shape is None or row.error:
            continue
        batched = (1, *row.input_shape)
        rank = len(batched)
        start = row.resolved_args.get("start_dim", 1) % rank
        end = row.resolved_args.get("end_dim", -1) % rank
        folded = batched[start : end + 1]
        if len(folded) > 1 and math.prod(folded) == size:
            return tuple(folded)
    return None


def _check_rank(t: str, shape: tuple[int, ...]) -> None:
    if t not in _RANKS:
        return
    ranks, words = _RANKS[t]
    if len(shape) not in ranks:
        hint = (
            f": add Unflatten before it to split the input into {words}" if t[:4] == "Conv" else ""
        )
        raise _RowError(f"{t} expects {words} but receives {fmt_shape(shape)}{hint}")


def _check_input(
    ltype: LayerType,
    args: dict[str, Any],
    shape: tuple[int, ...],
    dtype: str,
    rows: list[RowResult],
) -> None:
    """Plain-words checks (with a fit) for the mismatches a builder user meets most."""
    t = ltype.name
    is_int = not INPUT_DTYPES[dtype].is_floating_point
    if t == "Embedding" and not is_int:
        raise _RowError(
            f"Embedding looks up integer token ids but receives {dtype} values: "
            f"put Embedding first and set the input dtype to int64"
        )
    if is_int and t != "Embedding" and t not in _DTYPE_NEUTRAL:
        raise _RowError(
            f"{t} needs floating-point input but receives {dtype} token ids: "
            f"add an Embedding before it, or set the input dtype to float32"
        )
    _check_rank(t, shape)
    if t == "Linear" and shape and args["in_features"] != shape[-1]:
        last = shape[-1]
        flatten = "add Flatten before it, or " if len(shape) > 1 else ""
        raise _RowError(
            f"Linear expects last dim {args['in_features']} but receives {fmt_shape(shape)}: "
            f"{flatten}set in_features to {last}",
            {"in_features": last},
        )
    if t.startswith("Conv") and args["in_channels"] != shape[0]:
        raise _RowError(
            f"{t} expects {args['in_channels']} input channels but receives {shape[0]} "
            f"in {fmt_shape(shape)}: set in_channels to {shape[0]}",
            {"in_channels": shape[0]},
        )
    if t.startswith("BatchNorm") and args["num_features"] != shape[0]:
        raise _RowError(
            f"{t} expects {args['num_features']} features but receives {shape[0]} "
            f"in {fmt_shape(shape)}: set num_features to {shape[0]}",
            {"num_features": shape[0]},
        )
    if t == "LayerNorm":
        wanted = args["normalized_shape"]
        wanted = (wanted,) if isinstance(wanted, int) else tuple(wanted)
        if tuple(shape[-len(wanted) :]) != wanted or len(wanted) > len(shape):
            k = min(len(wanted), len(shape))
            value: Any = shape[-1] if k == 1 else tuple(shape[-k:])
            raise _RowError(
                f"LayerNorm expects trailing dims {fmt_shape(wanted)} but receives "
                f"{fmt_shape(shape)}: set normalized_shape to {value}",
                {"normalized_shape": value},
            )
    start_dim, rank = args.get("start_dim", 1), len(shape) + 1
    if t == "Flatten" and -rank <= start_dim < rank and start_dim % rank == 0:
        raise _RowError(
            "Flatten with start_dim 0 folds in the batch dimension: use start_dim 1",
            {"start_dim": 1},
        )
    if t == "Unflatten":
        _check_unflatten(args, shape, rows)
    if t in ("Softmax", "LogSoftmax") and args.get("dim") is not None:
        rank = len(shape) + 1
        if not -rank <= args["dim"] < rank:
            raise _RowError(
                f"{t} dim {args['dim']} is out of range for input {fmt_shape(shape)} "
                f"plus batch (dims -{rank} to {rank - 1}): use dim -1 for the last dim",
                {"dim": -1},
            )
    if t in ("MaxPool1d", "MaxPool2d") and args.get("return_indices"):
        raise _RowError(
            f"{t} with return_indices returns (output, indices), which the next layer "
            f"cannot take: set return_indices to False",
            {"return_indices": False},
        )


def _check_unflatten(args: dict[str, Any], shape: tuple[int, ...], rows: list[RowResult]) -> None:
    dim, sizes = args["dim"], args["unflattened_size"]
    batched = (1, *shape)
    if not -len(batched) <= dim < len(batched):
        raise _RowError(
            f"Unflatten dim {dim} is out of range for input {fmt_shape(shape)} plus batch"
        )
    if dim % len(batched) == 0:
        raise _RowError("Unflatten dim 0 would split the batch dimension: use dim 1", {"dim": 1})
    size = batched[dim]
    product = math.prod(s for s in sizes if s != -1)
    known = -1 not in sizes and product == size
    inferred = -1 in sizes and product > 0 and size % product == 0
    if not (known or inferred):
        found = _folded_by_flatten(size, rows)
        raise _RowError(
            f"Unflatten splits dim {dim} of size {size} into {fmt_shape(tuple(sizes))}, "
            f"whose product is {product}: give sizes whose product is {size}",
            {"unflattened_size": found} if found else None,
        )


def _run_on_meta(
    ltype: LayerType, args: dict[str, Any], shape: tuple[int, ...], dtype: str
) -> tuple[Any, ...]:
    """(out shape, out dtype, trainable, total, mult-adds, error, fit), memoised."""
    try:
        key: Any = (ltype.name, tuple(sorted(args.items())), shape, dtype)
        hash(key)
    except TypeError:  # an unhashable value typed into an "any" argument
        key = None
    if key is not None:
        with _MEMO_LOCK:
            hit = _MEMO.get(key)
            if hit is not None:
                _MEMO.move_to_end(key)
                return hit
    result = _build_and_call(ltype, args, shape, dtype)
    if key is not None:
        with _MEMO_LOCK:
            _MEMO[key] = result
            if len(_MEMO) > _MEMO_SIZE:
                _MEMO.popitem(last=False)
    return result


def _build_and_call(
    ltype: LayerType, args: dict[str, Any], shape: tuple[int, ...], dtype: str
) -> tuple[Any, ...]:
    t = ltype.name
    try:
        # Warnings (softmax's implicit dim) would land on the terminal under the TUI.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with torch.device("meta"):
                module = ltype.cls(**args)
            # eval: BatchNorm in training mode refuses a batch of 1. The call runs
            # outside the device mode, which would otherwise intercept every op in it.
            module.eval()
            x = torch.empty((1, *shape), dtype=INPUT_DTYPES[dtype], device="meta")
            with torch.no_grad():
                y = module(x)
    except Exception as exc:
        return (
            None,
            None,
            0,
            0,
            None,
            f"{t} fails on input {fmt_shape(shape)}: {_first_line(exc)}",
            None,
        )
    if not isinstance(y, torch.Tensor):
        return None, None, 0, 0, None, f"{t} returns {type(y).__name__}, not a tensor", None
    if y.dim() == 0 or y.shape[0] != 1:
        message = f"{t} changes the batch dimension (batch 1 comes out as {tuple(y.shape)})"
        return None, None, 0, 0, None, message, None
    out = tuple(y.shape[1:])
    trainable = total = 0
    for p in module.parameters():
        total += p.numel()
        if p.requires_grad:
            trainable += p.numel()
    out_dtype = str(y.dtype).removeprefix("torch.")
    return out, out_dtype, trainable, total, _mult_adds(module, t, shape, out), None, None


def _mult_adds(
    module: nn.Module, t: str, shape: tuple[int, ...], out: tuple[int, ...]
) -> int | None:
    if t == "Linear":
        return module.weight.numel() * math.prod(out[:-1])
    if t in ("Conv1d", "Conv2d"):
        return module.weight.numel() * math.prod(out[1:])
    if t == "ConvTranspose2d":
        return module.weight.numel() * math.prod(shape[1:])
    return None


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__


# --- totals ----------------------------------------------------------------------------


@dataclass(frozen=True)
class StackTotals:
    """Sums over a propagated stack."""

    params_trainable: int
    params_total: int
    params_bytes: int
    """Memory of the parameters stored as float32 (4 bytes each)."""
    mult_adds: int
    output_shape: tuple[int, ...] | None
    """The last row's output (the input when there are no layers); None on an error."""
    error_index: int | None = None
    """The first row with an error, or None."""

    @property
    def params_non_trainable(self) -> int:
        return self.params_total - self.params_trainable


def totals(stack: LayerStack, rows: list[RowResult]) -> StackTotals:
    """Parameters, float32 parameter memory, mult-adds and output shape of a stack."""
    trainable = sum(r.params_trainable for r in rows)
    total = sum(r.params_total for r in rows)
    mult_adds = sum(r.mult_adds or 0 for r in rows)
    error_index = next((r.index for r in rows if r.error), None)
    output = rows[-1].output_shape if rows else tuple(stack.input_shape)
    return StackTotals(trainable, total, total * 4, mult_adds, output, error_index)


def first_error(rows: list[RowResult]) -> RowResult | None:
    """The first row that failed, if any."""
    return next((r for r in rows if r.error), None)


# --- presets ---------------------------------------------------------------------------


def _stack(shape: tuple[int, ...], *layers: tuple[str, dict[str, Any]]) -> LayerStack:
    return LayerStack(shape, "float32", [LayerSpec(t, dict(a)) for t, a in layers])


_AUTO_LINEAR = {"in_features": AUTO}

PRESETS: dict[str, LayerStack] = {
    "No hidden layer": _stack(
        (1, 28, 28), ("Flatten", {}), ("Linear", {**_AUTO_LINEAR, "out_features": 10})
    ),
    "Quickstart MLP": _stack(
        (1, 28, 28),
        ("Flatten", {}),
        ("Linear", {**_AUTO_LINEAR, "out_features": 512}),
        ("ReLU", {}),
        ("Linear", {**_AUTO_LINEAR, "out_features": 512}),
        ("ReLU", {}),
        ("Linear", {**_AUTO_LINEAR, "out_features": 10}),
    ),
    "LeNet-style CNN": _stack(
        (1, 28, 28),
        ("Conv2d", {"in_channels": AUTO, "out_channels": 6, "kernel_size": 5, "padding": 2}),
        ("ReLU", {}),
        ("MaxPool2d", {"kernel_size": 2}),
        ("Conv2d", {"in_channels": AUTO, "out_channels": 16, "kernel_size": 5}),
        ("ReLU", {}),
        ("MaxPool2d", {"kernel_size": 2}),
        ("Flatten", {}),
        ("Linear", {**_AUTO_LINEAR, "out_features": 120}),
        ("ReLU", {}),
        ("Linear", {**_AUTO_LINEAR, "out_features": 84}),
        ("ReLU", {}),
        ("Linear", {**_AUTO_LINEAR, "out_features": 10}),
    ),
}
"""Starting stacks for the builder. Shared objects: edit ``PRESETS[name].copy()``."""


# --- build, export, import -------------------------------------------------------------


def _checked_rows(stack: LayerStack) -> list[RowResult]:
    rows = propagate(stack)
    bad = first_error(rows)
    if bad is not None:
        raise SpecError(f"layers[{bad.index}] ({bad.type})", bad.error or "")
    return rows


def build_module(stack: LayerStack, device: str | torch.device = "cpu") -> nn.Sequential:
    """The stack as a real ``nn.Sequential`` on ``device``; ``SpecError`` on a shape error."""
    rows = _checked_rows(stack)
    with torch.device(device):
        return nn.Sequential(
            *(
                CATALOGUE[s.type].cls(**r.resolved_args)
                for s, r in zip(stack.layers, rows, strict=True)
            )
        )


def _explicit_args(ltype: LayerType, args: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """(positional, keyword) arguments: required ones in order, then non-defaults."""
    positional, keywords = [], {}
    for spec in ltype.params:
        if spec.name not in args:
            continue
        value = args[spec.name]
        if spec.required:
            positional.append(value)
        elif not _same(value, spec.default):
            keywords[spec.name] = value
    return positional, keywords


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def export_code(stack: LayerStack) -> str:
    """Readable PyTorch code that rebuilds the stack (``SpecError`` on a shape error)."""
    rows = _checked_rows(stack)
    summary = totals(stack, rows)
    calls = []
    for spec, row in zip(stack.layers, rows, strict=True):
        positional, keywords = _explicit_args(CATALOGUE[spec.type], row.resolved_args)
        text = ", ".join([*map(repr, positional), *(f"{k}={v!r}" for k, v in keywords.items())])
        calls.append(f"        nn.{spec.type}({text}),  # -> {fmt_shape(row.output_shape or ())}")
    shape = tuple(stack.input_shape)
    if INPUT_DTYPES[stack.input_dtype].is_floating_point:
        dtype_kw = "" if stack.input_dtype == "float32" else f", dtype=torch.{stack.input_dtype}"
        make_input = f"torch.randn(2, *INPUT_SHAPE{dtype_kw})"
    else:
        first = stack.layers[0] if stack.layers else None
        embedding = first is not None and first.type == "Embedding"
        high = first.args.get("num_embeddings", 2) if embedding and first else 2
        make_input = f"torch.randint(0, {high}, (2, *INPUT_SHAPE), dtype=torch.{stack.input_dtype})"
    lines = [
        '"""A layer stack exported by dltui: build_model() returns it as an nn.Sequential."""',
        "",
        "import torch",
        "from torch import nn",
        "",
        f"# Input shape without the batch dimension, dtype {stack.input_dtype}.",
        f"INPUT_SHAPE = {shape!r}",
        "",
        "",
        "def build_model() -> nn.Sequential:",
        f"    # {summary.params_total:,} parameters; output shape "
        f"{fmt_shape(summary.output_shape or ())} per example.",
        "    return nn.Sequential(",
        *calls,
        "    )",
        "",
        "",
        'if __name__ == "__main__":',
        "    model = build_model().eval()",
        "    print(model)",
        f"    x = {make_input}",
        "    with torch.no_grad():",
        "        y = model(x)",
        '    print("input", tuple(x.shape), "-> output", tuple(y.shape))',
    ]
    return "\n".join(lines) + "\n"


def stack_from_module(
    module: nn.Sequential, input_shape: tuple[int, ...], input_dtype: str | None = None
) -> LayerStack:
    """Read an ``nn.Sequential`` of catalogue layers back into a stack.

    Constructor arguments are read from the module attributes of the same name (a
    ``bias`` argument from whether the bias tensor exists); arguments equal to their
    default are left out. ``input_dtype`` defaults to int64 when the first layer is an
    Embedding, else float32.

    Raises:
        ValueError: naming the first layer that is not a catalogue layer.
    """
    if not isinstance(module, nn.Sequential):
        raise ValueError(f"expected an nn.Sequential, got {type(module).__name__}")
    layers = []
    for name, child in module.named_children():
        ltype = CATALOGUE.get(type(child).__name__)
        if ltype is None or type(child) is not ltype.cls:
            raise ValueError(
                f"layer {name} ({type(child).__qualname__}) is not in the layer catalogue"
            )
        layers.append(LayerSpec(ltype.name, _args_from_module(ltype, child)))
    if input_dtype is None:
        input_dtype = "int64" if layers and layers[0].type == "Embedding" else "float32"
    return LayerStack(_check_shape(list(input_shape)), input_dtype, layers)


def _args_from_module(ltype: LayerType, module: nn.Module) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for spec in ltype.params:
        if not hasattr(module, spec.name):
            continue
        value = getattr(module, spec.name)
        if spec.kind == "bool" and (value is None or isinstance(value, torch.Tensor)):
            # Norm layers without affine weights have no bias either: leave bias alone.
            if getattr(module, "weight", True) is None:
                continue
            value = value is not None
        if isinstance(value, torch.Tensor):
            continue
        if isinstance(value, (list, torch.Size)):
            value = tuple(value)
        if (
            spec.kind == "ints"
            and spec.scalar_ok
            and isinstance(value, tuple)
            and len(set(value)) == 1
            and None not in value
        ):
            value = value[0]  # torch stores kernel_size=3 as (3, 3); write it back as 3
        if not spec.required and _same(value, spec.default):
            continue
        args[spec.name] = value
    # Pools store stride=None as stride=kernel_size; keep the spec as a user writes it.
    stride_default = next((p.default for p in ltype.params if p.name == "stride"), 0)
    if stride_default is None and args.get("stride") == args.get("kernel_size"):
        args.pop("stride", None)
    return args


# --- command line ------------------------------------------------------------------------


def summary_table(stack: LayerStack, rows: list[RowResult]) -> str:
    """A torchinfo-like table of a propagated stack (batch 1), ending in totals."""
    t = totals(stack, rows)
    header = ("Layer (type)", "Output Shape", "Param #", "Mult-Adds")
    body = [
        (
            f"{r.index}: {r.type}",
            str([1, *r.output_shape]) if r.output_shape is not None else "--",
            f"{r.params_total:,}" if r.params_total else "--",
            f"{r.mult_adds:,}" if r.mult_adds is not None else "--",
        )
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *body]) + 3 for i in range(4)]
    width = sum(widths)

    def line(cells: tuple[str, ...]) -> str:
        return "".join(
            c.ljust(w) if i < 2 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    rule = "=" * width
    out = [
        rule,
        f"Input: {[1, *stack.input_shape]} {stack.input_dtype}",
        rule,
        line(header),
        rule,
        *(line(row) for row in body),
        rule,
        f"Total params: {t.params_total:,}",
        f"Trainable params: {t.params_trainable:,}",
        f"Non-trainable params: {t.params_non_trainable:,}",
        f"Params size (MB): {t.params_bytes / 1e6:.2f}",
        f"Mult-adds: {t.mult_adds:,}",
        f"Output shape: {[1, *(t.output_shape or ())]}",
        rule,
    ]
    return "\n".join(out) + "\n"


def _fail(exc: Exception) -> int:
    print(f"dltui: error: {exc}", file=sys.stderr)
    return 2


def run_summary_command(spec_path: str, input_text: str | None) -> int:
    """``dltui summary SPEC.json [--input SHAPE]``: print the layer table; exit code."""
    try:
        stack = load_spec_file(spec_path)
        if input_text is not None:
            try:
                stack.input_shape = parse_shape(input_text)
            except ValueError as exc:
                raise SpecError("--input", str(exc)) from None
        rows = propagate(stack)
        bad = first_error(rows)
        if bad is not None:
            raise SpecError(f"{spec_path}: layers[{bad.index}] ({bad.type})", bad.error or "")
    except SpecError as exc:
        return _fail(exc)
    sys.stdout.write(summary_table(stack, rows))
    return 0


def run_export_command(spec_path: str) -> int:
    """``dltui export SPEC.json``: print PyTorch code that rebuilds the stack; exit code."""
    try:
        stack = load_spec_file(spec_path)
        code = export_code(stack)
    except SpecError as exc:
        if not exc.place.startswith(spec_path):
            exc = SpecError(f"{spec_path}: {exc.place}", exc.message)
        return _fail(exc)
    sys.stdout.write(code)
    return 0
