"""Engine tests of the memory check (tui.core.builder.memory): a stack whose parameters
cannot fit on the device is refused in one line before anything is allocated.
"""

from __future__ import annotations

import resource

import pytest
import torch

from tui.core.builder import memory
from tui.core.builder.codegen import build_module
from tui.core.builder.memory import ModelTooLarge, check_fits, free_bytes, parameter_bytes
from tui.core.builder.presets import PRESETS
from tui.core.builder.propagate import propagate
from tui.core.builder.spec import LayerSpec, LayerStack, SpecError

HUGE = LayerStack(
    (2,), "float32", [LayerSpec("Linear", {"in_features": 2, "out_features": 10**10})]
)


def test_parameter_bytes_counts_the_default_dtype() -> None:
    rows = propagate(PRESETS["Quickstart MLP"])
    real = build_module(PRESETS["Quickstart MLP"])
    assert parameter_bytes(rows) == sum(p.numel() * p.element_size() for p in real.parameters())


def test_the_cpu_has_some_free_memory_and_a_bad_device_none() -> None:
    free = free_bytes("cpu")
    assert free is not None and free > 0
    assert free_bytes("meta") is None
    if not torch.cuda.is_available():
        assert free_bytes("cuda") is None


def test_a_model_that_cannot_fit_is_refused_in_one_line_before_allocating() -> None:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ModelTooLarge) as info:
        build_module(HUGE)  # 120 GB of weights if it were built
    text = str(info.value)
    assert isinstance(info.value, SpecError) and "\n" not in text
    assert "the model needs 111.8 GiB for its parameters" in text
    assert "free on cpu" in text and "layers[0].out_features (Linear) smaller" in text
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KiB


def test_the_check_uses_the_memory_free_on_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    stack = PRESETS["Quickstart MLP"]
    need = parameter_bytes(propagate(stack))
    monkeypatch.setattr(memory, "free_bytes", lambda device: need - 1)
    with pytest.raises(ModelTooLarge, match=r"more than the 2\.6 MiB free on cpu"):
        check_fits(stack, "cpu")
    monkeypatch.setattr(memory, "free_bytes", lambda device: need)
    check_fits(stack, "cpu")
    monkeypatch.setattr(memory, "free_bytes", lambda device: None)  # unknown: no guess
    check_fits(HUGE, "cpu")
