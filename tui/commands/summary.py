"""``dltui summary SPEC.json [--input SHAPE]``: the layer table of a stack spec.

A torchinfo-like table on stdout (output shape, parameters and mult-adds per layer for
batch 1, then totals), exit code 0. A bad spec, a bad ``--input`` or a row whose input
does not fit: one line on stderr naming the place, nothing on stdout, exit code 2.
"""

from __future__ import annotations

import sys

from tui.core.builder.propagate import RowResult, first_error, propagate, totals
from tui.core.builder.spec import LayerStack, SpecError, load_spec_file, parse_shape

__all__ = ["run", "summary_table"]


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


def run(spec_path: str, input_text: str | None = None) -> int:
    """Print the layer table of the spec at ``spec_path`` (``--input`` overrides its
    input shape); return the exit code."""
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
        print(f"dltui: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(summary_table(stack, rows))
    return 0
