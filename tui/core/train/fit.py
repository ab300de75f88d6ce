"""Fitting the builder's stack to the data: the monitor's one-key fix (``f``).

When ``s`` fails because the builder's stack does not match the data (input shape, or
the last Linear's outputs against the classes or targets), :func:`fit_stack_to_data`
makes the two edits a user would: the stack's input shape becomes the data's sample
shape, and the last Linear's ``out_features`` what the loss needs. The edits go through
the builder's own engine (:class:`~tui.core.builder.edits.StackEditor`), so the fitted
stack is what the builder would produce by hand; the monitor hands it to the builder
(one undoable replacement), and the user presses ``s`` again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tui.core.builder.edits import StackEditor
from tui.core.builder.spec import LayerStack
from tui.core.text import shape_text
from tui.core.train.config import TrainConfig
from tui.core.train.data import DataBundle, DataError, load_data
from tui.core.train.settings import PrepareError, RunSettings

__all__ = ["Fit", "fit_for_run", "fit_stack_to_data", "outputs_needed"]


@dataclass(frozen=True)
class Fit:
    """A fitted stack and what changed, in plain words (empty: it fitted already)."""

    stack: LayerStack
    changes: tuple[str, ...]


def outputs_needed(bundle: DataBundle, loss: str) -> int | None:
    """How many outputs per sample the model needs for ``bundle`` under ``loss``."""
    if bundle.task == "classification":
        if loss == "bce_with_logits" and bundle.num_classes == 2:
            return 1
        return bundle.num_classes
    shape = bundle.target_shape
    return int(shape[-1]) if shape else 1


def fit_stack_to_data(stack: LayerStack, bundle: DataBundle, config: TrainConfig) -> Fit:
    """``stack`` with its input shape set to the data's and its last Linear's
    ``out_features`` to what the loss needs (an embedding's int64 input kept)."""
    editor = StackEditor(stack.copy())
    changes: list[str] = []
    shape = tuple(int(d) for d in bundle.input_shape)
    dtype = "int64" if str(bundle.input_dtype) == "torch.int64" else "float32"
    if tuple(stack.input_shape) != shape or stack.input_dtype != dtype:
        editor.set_input(shape, dtype)
        changes.append(f"input shape {shape_text(shape)}")
    need = outputs_needed(bundle, config.for_task(bundle.task).loss)
    linears = [i for i, layer in enumerate(editor.stack.layers) if layer.type == "Linear"]
    if need is not None and linears:
        last = linears[-1]
        args = dict(editor.stack.layers[last].args)
        if args.get("out_features") != need:
            args["out_features"] = need
            editor.set_args(last, args)
            changes.append(f"the last Linear's out_features {need}")
    return Fit(editor.stack, tuple(changes))


def fit_for_run(
    settings: RunSettings, stack: LayerStack, namespace: dict[str, Any] | None = None
) -> Fit:
    """Load the run's data and fit ``stack`` to it (call off the UI thread: loading takes
    time). Raises :class:`PrepareError` when the data cannot be loaded."""
    try:
        bundle = load_data(settings.data, namespace)
    except DataError as exc:
        raise PrepareError(f"data: {exc}", setting="data") from None
    return fit_stack_to_data(stack, bundle, settings.config)
