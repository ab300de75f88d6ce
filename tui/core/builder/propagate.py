"""Shape propagation: output shapes, parameters, mult-adds and errors of a stack, for free.

:func:`propagate` builds every layer under ``torch.device("meta")`` and runs it on an
empty meta tensor of batch 1, so output shapes and parameter counts cost no memory,
even for a 10-billion-parameter layer.

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

A row whose input does not fit gets ``error`` in plain words (the checks are in
:mod:`tui.core.builder.checks`) and, where one edit would fix it, ``fit``
(``{"in_features": 28}``) and/or ``fit_insert`` (``"Flatten"``, to put before the row).
Rows below have no shapes and ``blocked=True``.

Mult-adds count one multiply-accumulate per weight use for batch 1, bias adds left
out: Linear ``in * out * (positions)``, Conv ``weight.numel() * output positions``,
ConvTranspose ``weight.numel() * input positions``; other layers have ``None``.
:func:`totals` sums a propagated stack.
"""

from __future__ import annotations

import math
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from tui.core.builder.catalogue import AUTO, CATALOGUE, LayerType, did_you_mean
from tui.core.builder.checks import (
    CHANNELS_FIRST,
    RowError,
    check_input,
    check_rank,
    folded_by_flatten,
)
from tui.core.builder.spec import INPUT_DTYPES, LayerStack
from tui.core.text import first_line, shape_text


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
    fit_insert: str | None = None
    """A layer type to insert before this row as (part of) the fix: ``"Flatten"`` before
    a Linear that receives a conv's map; ``fit`` then holds what else to set, if any."""
    blocked: bool = False
    """True when a row above failed, so this one has no input shape to work from."""
    input_dtype: str | None = None
    """The dtype flowing in (``"int64"`` token ids before an Embedding), as a name."""
    output_dtype: str | None = None


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
                raise RowError(f"{ltype.name} needs {arg.name}: set it")
        check_input(ltype, resolved, in_shape, in_dtype, rows)
    except RowError as exc:
        return RowResult(
            **base,
            output_shape=None,
            resolved_args=resolved,
            error=exc.message,
            fit=exc.fit,
            fit_insert=exc.insert,
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
        raise RowError(f"{t}.{name} cannot be 'auto': set it")
    if t == "Linear" or t == "LayerNorm":
        if not shape:
            raise RowError(f"{t} needs at least one dim but receives a scalar")
        return shape[-1]
    if t in CHANNELS_FIRST:
        check_rank(t, shape)
        return shape[0]
    if t == "Unflatten":
        return _unflatten_auto(args, shape, rows)
    raise RowError(f"{t}.{name} cannot be 'auto': set it")


def _unflatten_auto(args: dict[str, Any], shape: tuple[int, ...], rows: list[RowResult]) -> Any:
    dim = args.get("dim")
    batched = (1, *shape)
    if not isinstance(dim, int) or not -len(batched) <= dim < len(batched):
        raise RowError(f"Unflatten needs dim (between 1 and {len(shape)}) to fill 'auto'")
    size = batched[dim]
    found = folded_by_flatten(size, rows)
    if found is None:
        raise RowError(
            f"Unflatten can fill unflattened_size only to undo a Flatten above that folded "
            f"{size} values, and there is none: set unflattened_size (product {size})"
        )
    return found


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
            f"{t} fails on input {shape_text(shape)}: {first_line(exc)}",
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


# --- totals --------------------------------------------------------------------------


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


def first_change(old: LayerStack | None, new: LayerStack) -> int:
    """The first row of ``new`` whose layer or input differs from ``old``.

    Rows above it may be taken from ``old``'s propagation (what a :class:`Propagator`
    that last saw ``old`` may keep): everything when ``old`` is None or its input differs.
    """
    if old is None or (old.input_shape, old.input_dtype) != (new.input_shape, new.input_dtype):
        return 0
    for index, (a, b) in enumerate(zip(old.layers, new.layers, strict=False)):
        if a != b:
            return index
    return min(len(old.layers), len(new.layers))
