"""The engine under the monitor's form and its `f`: choices checked with the valid list
shown, a watched run's config as form text, and the stack fitted to the data."""

from __future__ import annotations

import pytest

from tui.core.builder.spec import LayerSpec, LayerStack
from tui.core.train.config import TrainConfig
from tui.core.train.data import load_data
from tui.core.train.fit import fit_for_run, fit_stack_to_data
from tui.core.train.settings import (
    PrepareError,
    RunSettings,
    form_defaults,
    form_from_config,
    settings_from_form,
)


@pytest.mark.parametrize(
    ("field", "value", "listed"),
    [
        ("optimizer", "100000", "sgd, adam, adamw"),
        ("loss", "foo", "auto, cross_entropy"),
        ("device", "gpu0", "cpu, cuda, cuda:N, mps"),
        ("device", "cuda:" + "1" * 50, "cuda:N"),
    ],
)
def test_choices_outside_the_list_are_refused_with_the_list(
    field: str, value: str, listed: str
) -> None:
    form = {**form_defaults(), field: value}
    with pytest.raises(PrepareError) as info:
        settings_from_form(form, device="cpu")
    assert info.value.setting == field and listed in str(info.value)
    assert len(str(info.value)) < 200


def test_valid_devices_pass() -> None:
    for device in ("", "cpu", "cuda", "cuda:1", "mps"):
        settings = settings_from_form({**form_defaults(), "device": device}, device="cpu")
        assert settings.config.device == (device or "cpu")


def test_form_from_config_shows_the_runs_own_settings() -> None:
    config = {
        "model": "spec",
        "spec_path": "net.json",
        "data": "moons:n=300",
        "train": {"loss": "mse", "optimizer": "sgd", "lr": 0.05, "epochs": 7, "device": "cpu"},
    }
    assert form_from_config(config) == {
        "model": "net.json",
        "data": "moons:n=300",
        "loss": "mse",
        "optimizer": "sgd",
        "lr": "0.05",
        "epochs": "7",
        "device": "cpu",
    }
    hostile = {"model": ["x"], "data": 5, "train": {"lr": True, "epochs": {"a": 1}}}
    assert form_from_config(hostile) == {}
    assert form_from_config(None) == {} and form_from_config({"train": [1]}) == {}


def _mnist_stack() -> LayerStack:
    return LayerStack(
        input_shape=(1, 28, 28),
        layers=[
            LayerSpec("Flatten"),
            LayerSpec("Linear", {"in_features": "auto", "out_features": 64}),
            LayerSpec("ReLU"),
            LayerSpec("Linear", {"in_features": "auto", "out_features": 10}),
        ],
    )


def test_fit_sets_the_input_shape_and_the_last_linear() -> None:
    stack = _mnist_stack()
    fit = fit_stack_to_data(stack, load_data("spirals:n=50,classes=3"), TrainConfig())
    assert tuple(fit.stack.input_shape) == (2,)
    assert fit.stack.layers[1].args["out_features"] == 64  # a hidden layer is left alone
    assert fit.stack.layers[-1].args["out_features"] == 3
    assert len(fit.changes) == 2 and "(2,)" in fit.changes[0]
    assert tuple(stack.input_shape) == (1, 28, 28)  # the given stack is not changed


def test_fit_for_regression_and_bce_and_a_fitting_stack() -> None:
    fit = fit_stack_to_data(_mnist_stack(), load_data("linear:features=3"), TrainConfig())
    assert tuple(fit.stack.input_shape) == (3,) and fit.stack.layers[-1].args["out_features"] == 1
    bce = TrainConfig(loss="bce_with_logits")
    fit = fit_stack_to_data(_mnist_stack(), load_data("xor:n=40"), bce)
    assert fit.stack.layers[-1].args["out_features"] == 1
    again = fit_stack_to_data(fit.stack, load_data("xor:n=40"), bce)
    assert again.changes == ()


def test_fit_for_run_names_unloadable_data() -> None:
    with pytest.raises(PrepareError, match="data"):
        fit_for_run(RunSettings(data="nosuchset"), _mnist_stack())
