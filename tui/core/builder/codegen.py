"""From a stack to PyTorch and back: a real ``nn.Sequential``, readable code, and import.

:func:`build_module` and :func:`export_code` refuse a stack with a shape error (a
:class:`SpecError` naming the row); :func:`stack_from_module` reads an ``nn.Sequential``
of catalogue layers (a REPL variable) back into a stack.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from tui.core.builder.catalogue import CATALOGUE, LayerType
from tui.core.builder.memory import check_fits
from tui.core.builder.propagate import RowResult, first_error, propagate, totals
from tui.core.builder.spec import INPUT_DTYPES, LayerSpec, LayerStack, SpecError, check_shape
from tui.core.text import shape_text


def _checked_rows(stack: LayerStack) -> list[RowResult]:
    rows = propagate(stack)
    bad = first_error(rows)
    if bad is not None:
        raise SpecError(f"layers[{bad.index}] ({bad.type})", bad.error or "")
    return rows


def build_module(stack: LayerStack, device: str | torch.device = "cpu") -> nn.Sequential:
    """The stack as a real ``nn.Sequential`` on ``device``.

    Raises:
        SpecError: a row's input does not fit, or (:class:`ModelTooLarge`) the parameters
            need more memory than ``device`` has free: checked on the meta device first,
            so every caller (``dltui train``, the monitor, the builder's ``m``) is refused
            in one line instead of being killed by an 80 GB allocation.
    """
    rows = _checked_rows(stack)
    check_fits(stack, device, rows)
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
        calls.append(f"        nn.{spec.type}({text}),  # -> {shape_text(row.output_shape or ())}")
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
        f"{shape_text(summary.output_shape or ())} per example.",
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
    return LayerStack(check_shape(list(input_shape)), input_dtype, layers)


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
