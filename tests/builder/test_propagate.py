"""Engine tests for shape propagation (tui.core.builder.propagate).

Expected shapes, parameter counts and mult-adds come from real modules run on the CPU
in the test (mult-adds from torch's FlopCounterMode), not from numbers written here.
"""

from __future__ import annotations

import resource

import pytest
from example_stacks import VARIED, A, check_against_real, stack
from torch import nn

from tui.core.builder.codegen import build_module
from tui.core.builder.presets import PRESETS
from tui.core.builder.propagate import Propagator, first_change, propagate, totals, warm_up
from tui.core.builder.spec import LayerSpec, SpecError


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    warm_up()  # the first meta call loads kernels (~1 s): once per module, not in a test


# --- shapes against real modules -----------------------------------------------------------


@pytest.mark.parametrize("name", list(PRESETS))
def test_presets_match_real_modules(name: str) -> None:
    check_against_real(PRESETS[name])


def test_presets_match_hand_written_torch_models() -> None:
    torch_models = {
        "Spirals MLP": nn.Sequential(
            nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)
        ),
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
        # A rank-1 input of the wrong size: the fit is in_features.
        stack((100,), ("Linear", {"in_features": 784, "out_features": 10}), ("ReLU", {})),
        0,
        ["Linear expects last dim 784 but receives (100,)", "set in_features to 100"],
        {"in_features": 100},
    ),
    (
        # (tokens, features) after an Embedding: a Linear per position is meant.
        stack(
            (12,),
            ("Embedding", {"num_embeddings": 50, "embedding_dim": 16}),
            ("Linear", {"in_features": 32, "out_features": 4}),
            dtype="int64",
        ),
        1,
        ["Linear expects last dim 32 but receives (12, 16)", "add Flatten", "in_features to 16"],
        {"in_features": 16},
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


LENET_WITHOUT_FLATTEN = stack(
    (1, 28, 28),
    ("Conv2d", {"in_channels": A, "out_channels": 16, "kernel_size": 5}),
    ("MaxPool2d", {"kernel_size": 4}),
    ("ReLU", {}),
    ("Linear", {"in_features": 400, "out_features": 10}),
)


@pytest.mark.parametrize(
    ("st", "index", "words", "fit"),
    [
        # A conv's map (16, 6, 6) into Linear(400): Flatten, then 576 features, not 6.
        (LENET_WITHOUT_FLATTEN, 3, ["expects 400 features", "(16, 6, 6)"], {"in_features": 576}),
        # The image straight into Linear(784): Flatten alone makes it fit.
        (
            stack((1, 28, 28), ("Linear", {"in_features": 784, "out_features": 10})),
            0,
            ["expects 784 features but receives (1, 28, 28)", "add Flatten before it"],
            None,
        ),
    ],
)
def test_a_linear_after_a_missing_flatten_is_fitted_by_a_flatten(st, index, words, fit) -> None:
    bad = propagate(st)[index]
    for word in words:
        assert word in bad.error
    assert bad.fit_insert == "Flatten" and bad.fit == fit
    fixed = st.copy()
    fixed.layers[index].args.update(fit or {})
    fixed.layers.insert(index, LayerSpec("Flatten", {}))
    assert propagate(fixed)[-1].output_shape == (10,)
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


def test_first_change_finds_the_first_row_that_differs() -> None:
    st = stack((8,), ("Linear", {"in_features": A, "out_features": 4}), ("ReLU", {}))
    assert first_change(None, st) == 0
    assert first_change(st, st.copy()) == 2  # the same: nothing to re-run
    edited = st.copy()
    edited.layers[1] = LayerSpec("Tanh", {})
    assert first_change(st, edited) == 1
    longer = st.copy()
    longer.layers.append(LayerSpec("Dropout", {}))
    assert first_change(st, longer) == 2
    wider = st.copy()
    wider.input_shape = (16,)
    assert first_change(st, wider) == 0
