"""Starting stacks for the builder: a linear classifier, the PyTorch quickstart MLP, a LeNet.

Each takes 1x28x28 images (MNIST-shaped) and leaves ``in_features`` / ``in_channels`` to
``"auto"``, so a changed input shape still propagates.
"""

from __future__ import annotations

from typing import Any

from tui.core.builder.catalogue import AUTO
from tui.core.builder.spec import LayerSpec, LayerStack


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
