"""Plain-words checks of a layer against the input it receives, with the fix that fits.

Shape propagation (:mod:`tui.core.builder.propagate`) calls :func:`check_input` before it
runs a layer on the meta device: the mismatches a builder user meets most (a Linear
after a missing Flatten, a Conv on a flat vector, channels that do not match, token ids
into a float layer) get a sentence that says what to change, and a :class:`RowError`
carrying the fit, instead of torch's ``mat1 and mat2 shapes cannot be multiplied``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Protocol

from tui.core.builder.catalogue import LayerType
from tui.core.builder.spec import INPUT_DTYPES
from tui.core.text import shape_text


class RowError(Exception):
    """A layer that cannot run on its input: the sentence, and the fix where one is known.

    ``fit`` holds argument values that make the row fit; ``insert`` a layer type to put
    before the row as (part of) the fix (a Flatten a Linear after a conv is missing).
    """

    def __init__(
        self, message: str, fit: dict[str, Any] | None = None, insert: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fit = fit
        self.insert = insert


class Row(Protocol):
    """What the checks read of a row above (a :class:`~tui.core.builder.propagate.RowResult`)."""

    type: str
    input_shape: tuple[int, ...] | None
    output_shape: tuple[int, ...] | None
    resolved_args: dict[str, Any]
    error: str | None


# Input ranks (batch left out) each layer takes, and how to say them in words. Conv
# layers also accept unbatched input, but with the batch dimension in front a missing
# channel dim would make the batch the channels, so only channels-first is offered.
RANKS: dict[str, tuple[tuple[int, ...], str]] = {
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
CHANNELS_FIRST = {"Conv1d", "Conv2d", "ConvTranspose2d", "BatchNorm1d", "BatchNorm2d"}
# Layers that pass ints through unchanged; every other non-Embedding layer needs floats.
DTYPE_NEUTRAL = {"Flatten", "Unflatten", "Identity", "Dropout"}


def folded_by_flatten(size: int, rows: Sequence[Row]) -> tuple[int, ...] | None:
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


def check_rank(t: str, shape: tuple[int, ...]) -> None:
    if t not in RANKS:
        return
    ranks, words = RANKS[t]
    if len(shape) not in ranks:
        hint = (
            f": add Unflatten before it to split the input into {words}" if t[:4] == "Conv" else ""
        )
        raise RowError(f"{t} expects {words} but receives {shape_text(shape)}{hint}")


def check_input(
    ltype: LayerType,
    args: dict[str, Any],
    shape: tuple[int, ...],
    dtype: str,
    rows: Sequence[Row],
) -> None:
    """Plain-words checks (with a fit) for the mismatches a builder user meets most."""
    t = ltype.name
    is_int = not INPUT_DTYPES[dtype].is_floating_point
    if t == "Embedding" and not is_int:
        raise RowError(
            f"Embedding looks up integer token ids but receives {dtype} values: "
            f"put Embedding first and set the input dtype to int64"
        )
    if is_int and t != "Embedding" and t not in DTYPE_NEUTRAL:
        raise RowError(
            f"{t} needs floating-point input but receives {dtype} token ids: "
            f"add an Embedding before it, or set the input dtype to float32"
        )
    check_rank(t, shape)
    if t == "Linear" and shape and args["in_features"] != shape[-1]:
        check_linear(args["in_features"], shape, rows)
    if t.startswith("Conv") and args["in_channels"] != shape[0]:
        raise RowError(
            f"{t} expects {args['in_channels']} input channels but receives {shape[0]} "
            f"in {shape_text(shape)}: set in_channels to {shape[0]}",
            {"in_channels": shape[0]},
        )
    if t.startswith("BatchNorm") and args["num_features"] != shape[0]:
        raise RowError(
            f"{t} expects {args['num_features']} features but receives {shape[0]} "
            f"in {shape_text(shape)}: set num_features to {shape[0]}",
            {"num_features": shape[0]},
        )
    if t == "LayerNorm":
        wanted = args["normalized_shape"]
        wanted = (wanted,) if isinstance(wanted, int) else tuple(wanted)
        if tuple(shape[-len(wanted) :]) != wanted or len(wanted) > len(shape):
            k = min(len(wanted), len(shape))
            value: Any = shape[-1] if k == 1 else tuple(shape[-k:])
            raise RowError(
                f"LayerNorm expects trailing dims {shape_text(wanted)} but receives "
                f"{shape_text(shape)}: set normalized_shape to {value}",
                {"normalized_shape": value},
            )
    start_dim, rank = args.get("start_dim", 1), len(shape) + 1
    if t == "Flatten" and -rank <= start_dim < rank and start_dim % rank == 0:
        raise RowError(
            "Flatten with start_dim 0 folds in the batch dimension: use start_dim 1",
            {"start_dim": 1},
        )
    if t == "Unflatten":
        check_unflatten(args, shape, rows)
    if t in ("Softmax", "LogSoftmax") and args.get("dim") is not None:
        rank = len(shape) + 1
        if not -rank <= args["dim"] < rank:
            raise RowError(
                f"{t} dim {args['dim']} is out of range for input {shape_text(shape)} "
                f"plus batch (dims -{rank} to {rank - 1}): use dim -1 for the last dim",
                {"dim": -1},
            )
    if t in ("MaxPool1d", "MaxPool2d") and args.get("return_indices"):
        raise RowError(
            f"{t} with return_indices returns (output, indices), which the next layer "
            f"cannot take: set return_indices to False",
            {"return_indices": False},
        )


# Layers that keep the shape they are given: looking for what made a Linear's input, the
# rows below these say nothing.
_SHAPE_KEEPING = {"ReLU", "LeakyReLU", "GELU", "SiLU", "Tanh", "Sigmoid", "Dropout", "Identity"}
# Layers whose output is a map (channels, length / height, width): a Linear after one of
# them is meant to see the whole map, flattened.
_MAP_MAKERS = {
    "Conv1d",
    "Conv2d",
    "ConvTranspose2d",
    "MaxPool1d",
    "MaxPool2d",
    "AvgPool2d",
    "AdaptiveAvgPool2d",
    "BatchNorm2d",
}


def flatten_intended(in_features: int, shape: tuple[int, ...], rows: Sequence[Row]) -> bool:
    """Whether a Linear taking ``in_features`` on a multi-dim ``shape`` is missing a Flatten.

    Yes when ``in_features`` is the flattened size, when the shape comes from a conv or
    pool layer (through activations), or straight from the stack's input. No after a
    Linear, an Embedding or a LayerNorm: a Linear on ``(tokens, features)`` is applied
    per position on purpose, and the fit is the last dim.
    """
    if len(shape) < 2:
        return False
    if in_features == math.prod(shape):
        return True
    for row in reversed(rows):
        if row.type in _SHAPE_KEEPING:
            continue
        return row.type in _MAP_MAKERS
    return True  # nothing above but shape-keeping layers: the input itself


def check_linear(in_features: int, shape: tuple[int, ...], rows: Sequence[Row]) -> None:
    """Raise the error (and fit) of a Linear whose ``in_features`` is not ``shape[-1]``."""
    got = shape_text(shape)
    if flatten_intended(in_features, shape, rows):
        size = math.prod(shape)
        fit = None if in_features == size else {"in_features": size}
        also = "" if fit is None else f" and set in_features to {size}"
        raise RowError(
            f"Linear expects {in_features} features but receives {got}: "
            f"add Flatten before it{also}",
            fit,
            insert="Flatten",
        )
    last = shape[-1]
    flatten = "add Flatten before it, or " if len(shape) > 1 else ""
    raise RowError(
        f"Linear expects last dim {in_features} but receives {got}: "
        f"{flatten}set in_features to {last}",
        {"in_features": last},
    )


def check_unflatten(args: dict[str, Any], shape: tuple[int, ...], rows: Sequence[Row]) -> None:
    dim, sizes = args["dim"], args["unflattened_size"]
    batched = (1, *shape)
    if not -len(batched) <= dim < len(batched):
        raise RowError(
            f"Unflatten dim {dim} is out of range for input {shape_text(shape)} plus batch"
        )
    if dim % len(batched) == 0:
        raise RowError("Unflatten dim 0 would split the batch dimension: use dim 1", {"dim": 1})
    size = batched[dim]
    product = math.prod(s for s in sizes if s != -1)
    known = -1 not in sizes and product == size
    inferred = -1 in sizes and product > 0 and size % product == 0
    if not (known or inferred):
        found = folded_by_flatten(size, rows)
        raise RowError(
            f"Unflatten splits dim {dim} of size {size} into {shape_text(tuple(sizes))}, "
            f"whose product is {product}: give sizes whose product is {size}",
            {"unflattened_size": found} if found else None,
        )
