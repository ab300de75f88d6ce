"""Engine tests for tui.core.builder.codegen: real modules, exported code that rebuilds
them, and nn.Sequential read back into a stack.
"""

from __future__ import annotations

import pytest
import torch
from example_stacks import VARIED, check_against_real, real_input
from torch import nn

from tui.core.builder.codegen import build_module, export_code, stack_from_module
from tui.core.builder.presets import PRESETS
from tui.core.builder.propagate import warm_up
from tui.core.builder.spec import LayerSpec, LayerStack


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_up()  # the first meta call loads kernels (~1 s): once per module, not in a test


# --- build, export, import --------------------------------------------------------------------


def assert_same_model(rebuilt: nn.Module, original: nn.Module, st: LayerStack) -> None:
    want = {k: v.shape for k, v in original.state_dict().items()}
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == want
    rebuilt.load_state_dict(original.state_dict())
    x = real_input(st)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt.eval()(x), original.eval()(x))


@pytest.mark.parametrize("st", [*PRESETS.values(), *VARIED.values()])
def test_exported_code_rebuilds_the_model(st: LayerStack) -> None:
    code = export_code(st)
    assert "def build_model() -> nn.Sequential:" in code
    assert "'auto'" not in code
    namespace: dict = {"__name__": "exported"}
    exec(compile(code, "exported.py", "exec"), namespace)
    original = build_module(st)
    assert_same_model(namespace["build_model"](), original, st)


def test_exported_code_writes_only_non_default_arguments(capsys) -> None:
    code = export_code(PRESETS["LeNet-style CNN"])
    assert "nn.Conv2d(1, 6, 5, padding=2)," in code
    assert "nn.MaxPool2d(2)," in code
    assert "nn.Linear(400, 120)," in code
    assert "bias" not in code and "stride" not in code
    exec(compile(code, "exported.py", "exec"), {"__name__": "__main__"})
    assert "-> output (2, 10)" in capsys.readouterr().out


def test_stack_from_module_round_trip() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False, padding_mode="circular"),
        nn.BatchNorm2d(8, eps=1e-3, momentum=None),
        nn.LeakyReLU(0.2),
        nn.MaxPool2d(2),
        nn.AvgPool2d(2, stride=1, count_include_pad=False),
        nn.ConvTranspose2d(8, 4, 2, stride=2),
        nn.AdaptiveAvgPool2d((2, None)),
        nn.Flatten(),
        nn.Dropout(0.25),
        nn.Linear(112, 16, bias=False),
        nn.LayerNorm(16, elementwise_affine=False),
        nn.GELU("tanh"),
        nn.Unflatten(1, (4, 4)),
        nn.Softmax(dim=-1),
    )
    st = stack_from_module(model, (3, 32, 32))
    assert st.layers[3] == LayerSpec("MaxPool2d", {"kernel_size": 2})
    assert st.layers[0].args["kernel_size"] == 3
    rebuilt = build_module(st)
    assert repr(rebuilt) == repr(model)
    assert_same_model(rebuilt, model, st)
    check_against_real(st)
    assert LayerStack.from_dict(st.to_dict()) == st

    tokens = nn.Sequential(nn.Embedding(50, 8, padding_idx=0), nn.Flatten(), nn.Linear(80, 2))
    st = stack_from_module(tokens, (10,))
    assert st.input_dtype == "int64"
    assert repr(build_module(st)) == repr(tokens)


def test_stack_from_module_names_the_first_unsupported_layer() -> None:
    class MyLinear(nn.Linear):
        pass

    with pytest.raises(ValueError, match=r"layer 1 \(RNN\) is not in the layer catalogue"):
        stack_from_module(nn.Sequential(nn.ReLU(), nn.RNN(4, 4), nn.GRU(4, 4)), (4,))
    with pytest.raises(ValueError, match=r"layer 0 \(.*MyLinear\)"):
        stack_from_module(nn.Sequential(MyLinear(4, 4)), (4,))
