"""Starting stacks for the builder: a small MLP for 2-D points, then MNIST-shaped ones.

The first, :data:`DEFAULT_PRESET`, is what the builder starts with: it takes 2 numbers
and ends in 2 classes, so that it trains on the monitor's default data (two spirals) as
it stands, F4 then ``s``. The others take 1x28x28 images (a linear classifier, the
PyTorch quickstart MLP, a LeNet). All leave ``in_features`` / ``in_channels`` to
``"auto"``, so a changed input shape still propagates.
"""

from __future__ import annotations

from typing import Any

from tui.core.builder.catalogue import AUTO
from tui.core.builder.spec import LayerSpec, LayerStack


def _stack(shape: tuple[int, ...], *layers: tuple[str, dict[str, Any]]) -> LayerStack:
    return LayerStack(shape, "float32", [LayerSpec(t, dict(a)) for t, a in layers])


_AUTO_LINEAR = {"in_features": AUTO}

DEFAULT_PRESET = "Spirals MLP"
"""The preset the builder starts with (fits the monitor's default data, ``spirals``)."""

PRESETS: dict[str, LayerStack] = {
    DEFAULT_PRESET: _stack(
        (2,),
        ("Linear", {**_AUTO_LINEAR, "out_features": 64}),
        ("ReLU", {}),
        ("Linear", {**_AUTO_LINEAR, "out_features": 64}),
        ("ReLU", {}),
        ("Linear", {**_AUTO_LINEAR, "out_features": 2}),
    ),
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


def default_stack() -> LayerStack:
    """A fresh copy of the stack the builder starts with."""
    return PRESETS[DEFAULT_PRESET].copy()
