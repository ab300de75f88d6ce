"""Engine tests for the layer catalogue and layer stacks (tui.core.builder).

Expected shapes, parameter counts and mult-adds come from real modules run on the CPU
in the test (mult-adds from torch's FlopCounterMode), not from numbers written here.
"""

from __future__ import annotations

import inspect
import json
import resource

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tui.core.builder.catalogue import CATALOGUE, coerce_arg, format_arg, parse_arg
from tui.core.builder.spec import (
    PRESETS,
    LayerSpec,
    LayerStack,
    Propagator,
    SpecError,
    build_module,
    export_code,
    load_spec_file,
    parse_shape,
    propagate,
    save_spec_file,
    stack_from_module,
    totals,
    warm_up,
)

A = "auto"


def stack(shape, *layers, dtype="float32"):
    return LayerStack(tuple(shape), dtype, [LayerSpec(t, dict(a)) for t, a in layers])


def real_input(st: LayerStack, batch: int = 2) -> torch.Tensor:
    torch.manual_seed(0)
    if st.input_dtype == "int64":
        high = st.layers[0].args["num_embeddings"]
        return torch.randint(0, high, (batch, *st.input_shape))
    return torch.randn(batch, *st.input_shape)


def check_against_real(st: LayerStack) -> None:
    """Every row's shapes, counts, mult-adds and autos match a real CPU module."""
    rows = propagate(st)
    assert [r.error for r in rows] == [None] * len(rows)
    model = build_module(st).eval()
    x = real_input(st)
    for layer, spec, row in zip(model, st.layers, rows, strict=True):
        for name, value in spec.args.items():
            if value == A:  # an auto argument equals what the real input says
                got = row.resolved_args[name]
                want = x.shape[-1] if name in ("in_features", "normalized_shape") else x.shape[1]
                if name == "unflattened_size":
                    continue  # checked by the real forward below
                assert got == want, (row.index, name)
        with torch.no_grad(), FlopCounterMode(display=False) as flops:
            y = layer(x)
        assert tuple(y.shape) == (2, *row.output_shape), row
        params = list(layer.parameters())
        assert row.params_total == sum(p.numel() for p in params)
        assert row.params_trainable == sum(p.numel() for p in params if p.requires_grad)
        if row.mult_adds is not None:
            # batch 2 and 2 flops per multiply-add
            assert flops.get_total_flops() == 4 * row.mult_adds, row
        x = y
    t = totals(st, rows)
    assert t.params_total == sum(p.numel() for p in model.parameters())
    assert t.params_bytes == 4 * t.params_total
    assert t.output_shape == tuple(x.shape[1:])


VARIED = {
    "conv-bn-pool": stack(
        (3, 32, 32),
        ("Conv2d", {"in_channels": A, "out_channels": 16, "kernel_size": 3, "padding": 1}),
        ("BatchNorm2d", {"num_features": A}),
        ("ReLU", {}),
        ("MaxPool2d", {"kernel_size": 2}),
        ("Conv2d", {"in_channels": A, "out_channels": 8, "kernel_size": (3, 5), "stride": (1, 2)}),
        ("LeakyReLU", {"negative_slope": 0.2}),
        ("AvgPool2d", {"kernel_size": 2, "stride": 1}),
        ("AdaptiveAvgPool2d", {"output_size": (4, None)}),
        ("Dropout", {"p": 0.1}),
        ("Flatten", {}),
        ("Linear", {"in_features": A, "out_features": 10}),
        ("LogSoftmax", {"dim": 1}),
    ),
    "conv1d": stack(
        (4, 50),
        ("Conv1d", {"in_channels": A, "out_channels": 8, "kernel_size": 5, "stride": 2}),
        ("BatchNorm1d", {"num_features": A}),
        ("GELU", {"approximate": "tanh"}),
        ("MaxPool1d", {"kernel_size": 3}),
        ("Flatten", {}),
        ("Linear", {"in_features": A, "out_features": 16}),
        ("BatchNorm1d", {"num_features": A}),
        ("SiLU", {}),
        ("Softmax", {"dim": -1}),
    ),
    "embedding-layernorm": stack(
        (12,),
        ("Embedding", {"num_embeddings": 100, "embedding_dim": 32, "padding_idx": 0}),
        ("LayerNorm", {"normalized_shape": A}),
        ("Linear", {"in_features": A, "out_features": 64}),
        ("Tanh", {}),
        ("LayerNorm", {"normalized_shape": (12, 64)}),
        ("Flatten", {}),
        ("Linear", {"in_features": A, "out_features": 3}),
        ("Sigmoid", {}),
        ("Identity", {}),
        dtype="int64",
    ),
    "decoder-unflatten-transpose": stack(
        (1, 28, 28),
        ("Flatten", {}),
        ("Linear", {"in_features": A, "out_features": 64}),
        ("ReLU", {}),
        ("Linear", {"in_features": A, "out_features": 784}),
        ("Unflatten", {"dim": 1, "unflattened_size": A}),
        (
            "ConvTranspose2d",
            {
                "in_channels": A,
                "out_channels": 4,
                "kernel_size": 3,
                "stride": 2,
                "padding": 1,
                "output_padding": 1,
            },
        ),
        (
            "Conv2d",
            {
                "in_channels": A,
                "out_channels": 1,
                "kernel_size": 3,
                "padding": "same",
                "padding_mode": "reflect",
            },
        ),
    ),
}


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_up()


# --- catalogue ---------------------------------------------------------------------------


def test_catalogue_arguments_follow_torch_signatures() -> None:
    for name, ltype in CATALOGUE.items():
        sig = inspect.signature(getattr(nn, name))
        wanted = [
            p
            for p in sig.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            and p.name not in ("device", "dtype")
            and not p.name.startswith("_")
        ]
        assert [a.name for a in ltype.params] == [p.name for p in wanted], name
        for arg, p in zip(ltype.params, wanted, strict=True):
            assert arg.required == (p.default is p.empty)
            if not arg.required:
                assert arg.default == p.default
        assert ltype.doc and "\n" not in ltype.doc
    for required in ("Linear", "ConvTranspose2d", "AdaptiveAvgPool2d", "Embedding", "LogSoftmax"):
        assert required in CATALOGUE
    assert CATALOGUE["Conv2d"].arg("padding_mode").choices == (
        "zeros",
        "reflect",
        "replicate",
        "circular",
    )


def test_parse_arg_reads_form_text() -> None:
    assert parse_arg("Conv2d", "kernel_size", "3") == 3
    assert parse_arg("Conv2d", "kernel_size", "(3, 5)") == (3, 5)
    assert parse_arg("Conv2d", "kernel_size", "3x5") == (3, 5)
    assert parse_arg("Conv2d", "padding", "same") == "same"
    assert parse_arg("Linear", "in_features", "auto") == A
    assert parse_arg("Linear", "bias", "false") is False
    assert parse_arg("Linear", "bias", "") is True  # empty: the default
    assert parse_arg("BatchNorm1d", "momentum", "None") is None
    assert parse_arg("LayerNorm", "eps", "1e-3") == 1e-3
    assert parse_arg("AdaptiveAvgPool2d", "output_size", "(None, 7)") == (None, 7)
    assert parse_arg("GELU", "approximate", "none") == "none"


@pytest.mark.parametrize(
    ("layer", "arg", "text", "words"),
    [
        ("Conv2d", "kernel_size", "x", "expected int or tuple of 2 ints, got 'x'"),
        ("Conv2d", "kernel_size", "(3, 3, 3)", "tuple of 2 ints"),
        ("Linear", "out_features", "", "missing required argument"),
        ("Linear", "out_features", "auto", "expected int"),
        ("Linear", "out_features", "2.5", "expected int"),
        ("Linear", "bias", "maybe", "expected bool"),
        ("Conv2d", "padding_mode", "mirror", "one of 'zeros'"),
        ("Linear", "out_featurs", "3", "did you mean 'out_features'"),
        ("Lineer", "out_features", "3", "did you mean 'Linear'"),
    ],
)
def test_parse_arg_errors_say_what_was_expected(layer, arg, text, words) -> None:
    with pytest.raises(ValueError) as info:
        parse_arg(layer, arg, text)
    assert words in str(info.value)


def test_format_arg_round_trips_through_parse_arg() -> None:
    for layer, arg, value in [
        ("Conv2d", "kernel_size", (3, 5)),
        ("Conv1d", "kernel_size", (3,)),
        ("Linear", "bias", False),
        ("BatchNorm1d", "momentum", None),
        ("LayerNorm", "eps", 1e-05),
        ("Unflatten", "unflattened_size", (1, 28, 28)),
    ]:
        assert parse_arg(layer, arg, format_arg(value)) == value
    assert coerce_arg(CATALOGUE["Conv2d"].arg("stride"), [2, 1]) == (2, 1)


# --- shapes against real modules -----------------------------------------------------------


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_match_real_modules(name: str) -> None:
    check_against_real(PRESETS[name])


def test_presets_match_hand_written_torch_models() -> None:
    torch_models = {
        "No hidden layer": nn.Sequential(nn.Flatten(), nn.Linear(784, 10)),
        "Quickstart MLP": nn.Sequential(
            nn.Flatten(),
            nn.Linear(28 * 28, 512),
            nn.ReLU(),
            nn.Linear(512, 512),
            nn.ReLU(),
            nn.Linear(512, 10),
        ),
        "LeNet-style CNN": nn.Sequential(
            nn.Conv2d(1, 6, 5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(400, 120),
            nn.ReLU(),
            nn.Linear(120, 84),
            nn.ReLU(),
            nn.Linear(84, 10),
        ),
    }
    for name, model in torch_models.items():
        rows = propagate(PRESETS[name])
        assert totals(PRESETS[name], rows).params_total == sum(
            p.numel() for p in model.parameters()
        )
        assert repr(build_module(PRESETS[name])) == repr(model)


@pytest.mark.parametrize("name", list(VARIED))
def test_varied_stacks_match_real_modules(name: str) -> None:
    check_against_real(VARIED[name])


def test_unflatten_auto_undoes_the_flatten_above() -> None:
    st = VARIED["decoder-unflatten-transpose"]
    rows = propagate(st)
    assert rows[4].resolved_args["unflattened_size"] == st.input_shape


def test_ten_billion_parameters_propagate_without_allocating() -> None:
    width = 100_000
    st = stack((width,), ("Linear", {"in_features": A, "out_features": width}))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    rows = propagate(st)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    # A real module would need 40 GB, so the count is checked against the formula.
    assert rows[0].params_total == width * width + width
    assert rows[0].output_shape == (width,)
    assert grown_mb < 200


# --- errors, fits, blocked rows ---------------------------------------------------------------

ERRORS = [
    # (stack, failing row, words in the error, fit)
    (
        stack((1, 28, 28), ("Linear", {"in_features": 784, "out_features": 10}), ("ReLU", {})),
        0,
        ["Linear expects last dim 784 but receives (1, 28, 28)", "add Flatten", "28"],
        {"in_features": 28},
    ),
    (
        stack(
            (1, 28, 28),
            ("Conv2d", {"in_channels": 3, "out_channels": 8, "kernel_size": 3}),
            ("ReLU", {}),
        ),
        0,
        ["expects 3 input channels but receives 1"],
        {"in_channels": 1},
    ),
    (
        stack(
            (16,),
            ("Linear", {"in_features": A, "out_features": 64}),
            ("BatchNorm1d", {"num_features": 32}),
            ("ReLU", {}),
        ),
        1,
        ["expects 32 features but receives 64"],
        {"num_features": 64},
    ),
    (
        stack((4, 7), ("LayerNorm", {"normalized_shape": 10}), ("ReLU", {})),
        0,
        ["LayerNorm expects trailing dims (10,) but receives (4, 7)"],
        {"normalized_shape": 7},
    ),
    (
        stack(
            (1, 28, 28),
            ("Flatten", {}),
            ("Unflatten", {"dim": 1, "unflattened_size": (2, 3)}),
            ("ReLU", {}),
        ),
        1,
        ["size 784", "product is 6"],
        {"unflattened_size": (1, 28, 28)},
    ),
    (
        stack((10,), ("Softmax", {"dim": 3}), ("ReLU", {})),
        0,
        ["dim 3 is out of range"],
        {"dim": -1},
    ),
    (
        stack(
            (1, 8, 8),
            ("MaxPool2d", {"kernel_size": 2, "return_indices": True}),
            ("ReLU", {}),
        ),
        0,
        ["return_indices"],
        {"return_indices": False},
    ),
    (
        stack((2, 5), ("Flatten", {"start_dim": 0}), ("ReLU", {})),
        0,
        ["batch dimension"],
        {"start_dim": 1},
    ),
    (
        stack((784,), ("Conv2d", {"in_channels": A, "out_channels": 8, "kernel_size": 3})),
        0,
        ["Conv2d expects (channels, height, width) but receives (784,)", "Unflatten"],
        None,
    ),
    (
        stack((12,), ("Embedding", {"num_embeddings": 10, "embedding_dim": 4})),
        0,
        ["integer token ids", "int64"],
        None,
    ),
    (
        stack((12,), ("Linear", {"in_features": 12, "out_features": 4}), dtype="int64"),
        0,
        ["floating-point input", "Embedding"],
        None,
    ),
    (
        stack((1, 2, 2), ("Conv2d", {"in_channels": 1, "out_channels": 2, "kernel_size": 5})),
        0,
        ["Conv2d fails on input (1, 2, 2)", "Kernel size"],
        None,
    ),
    (
        stack((8,), ("Linear", {"in_features": A})),
        0,
        ["needs out_features"],
        None,
    ),
    (
        stack((8,), ("Linear", {"in_features": 8, "out_features": A})),
        0,
        ["out_features cannot be 'auto'"],
        None,
    ),
    (
        stack((8,), ("Unflatten", {"dim": 1, "unflattened_size": A})),
        0,
        ["set unflattened_size"],
        None,
    ),
]


@pytest.mark.parametrize(("st", "index", "words", "fit"), ERRORS)
def test_error_rows_speak_plainly_and_fit_fixes_them(st, index, words, fit) -> None:
    rows = propagate(st)
    assert [r.error is None for r in rows[:index]] == [True] * index
    bad = rows[index]
    assert bad.output_shape is None
    for word in words:
        assert word in bad.error
    assert bad.fit == fit
    for below in rows[index + 1 :]:
        assert below.blocked and below.output_shape is None and below.error is None
    with pytest.raises(SpecError, match=rf"layers\[{index}\]"):
        build_module(st)
    if fit is not None:
        fixed = st.copy()
        fixed.layers[index].args.update(fit)
        check_against_real(fixed)


def test_propagator_reruns_only_from_the_edited_row() -> None:
    st = stack((32,), *[("Linear", {"in_features": A, "out_features": 32 + i}) for i in range(30)])
    prop = Propagator()
    first = list(prop.update(st))
    st.layers[20].args["out_features"] = 7
    rows = prop.update(st, 20)
    assert all(rows[i] is first[i] for i in range(20))
    assert rows == propagate(st)
    assert rows[21].resolved_args["in_features"] == 7
    del st.layers[25]  # a removal re-runs from the removed row down
    assert prop.update(st, 25) == propagate(st)
    st.input_shape = (16,)  # a new input re-runs everything, whatever from_index says
    rows = prop.update(st, 29)
    assert rows[0].input_shape == (16,) and rows == propagate(st)


# --- spec files ------------------------------------------------------------------------------


@pytest.mark.parametrize("st", [*PRESETS.values(), *VARIED.values()])
def test_spec_round_trip(st: LayerStack, tmp_path) -> None:
    assert LayerStack.from_dict(json.loads(json.dumps(st.to_dict()))) == st
    path = tmp_path / "spec.json"
    save_spec_file(st, path)
    assert load_spec_file(path) == st
    assert [p.name for p in tmp_path.iterdir()] == ["spec.json"]  # no temp file left


def test_spec_json_matches_the_design_format() -> None:
    data = PRESETS["Quickstart MLP"].to_dict()
    assert data["format"] == 1 and data["input_shape"] == [1, 28, 28]
    assert "input_dtype" not in data
    assert data["layers"][1] == {"type": "Linear", "in_features": "auto", "out_features": 512}
    assert VARIED["embedding-layernorm"].to_dict()["input_dtype"] == "int64"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format": 2, "input_shape": [1], "layers": []}, "format: unsupported format 2"),
        ({"format": 1, "layers": []}, "input_shape: missing"),
        ({"format": 1, "input_shape": [1, 0], "layers": []}, "input_shape: expected a list"),
        (
            {"format": 1, "input_shape": [4], "layers": [{"type": "ReLU"}, {"type": "Lineer"}]},
            "layers[1]: unknown layer type 'Lineer' (did you mean 'Linear'?)",
        ),
        (
            {"format": 1, "input_shape": [4], "layers": [{"type": "Linear", "in_features": 4}]},
            "layers[0].out_features: missing required argument",
        ),
        (
            {
                "format": 1,
                "input_shape": [1, 8, 8],
                "layers": [
                    {"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": "x"}
                ],
            },
            "layers[0].kernel_size: expected int or tuple of 2 ints, got 'x'",
        ),
        (
            {"format": 1, "input_shape": [4], "layers": [{"type": "ReLU", "inplce": True}]},
            "layers[0].inplce: ReLU has no such argument (did you mean 'inplace'?)",
        ),
        ({"format": 1, "input_shap": [4], "layers": []}, "input_shap: unknown field"),
    ],
)
def test_spec_errors_name_the_place(data, message) -> None:
    with pytest.raises(SpecError) as info:
        LayerStack.from_dict(data)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_json_syntax_error_names_file_line_and_column(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"format": 1,\n  "input_shape": [1, 28, 28],,\n}')
    with pytest.raises(SpecError, match=rf"^{path}:2:30: "):
        load_spec_file(path)


def test_parse_shape_accepts_the_usual_spellings() -> None:
    for text in ("1,28,28", "1x28x28", "(1, 28, 28)", "[1, 28, 28]"):
        assert parse_shape(text) == (1, 28, 28)
    with pytest.raises(ValueError, match="expected a shape"):
        parse_shape("1,a,28")


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
