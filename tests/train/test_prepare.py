"""One path from settings to a ready trainer: the monitor's form and ``dltui train`` alike.

The form's text and the command line's options both become RunSettings with the same
defaults; prepare_run checks everything before it writes anything, in the same words."""

from __future__ import annotations

import argparse
import json

import pytest
import torch
from torch import nn

from tui.commands.train import settings_from_args
from tui.core.builder.spec import LayerStack
from tui.core.train.config import RunState, TrainConfig
from tui.core.train.prepare import data_label, model_kind, prepare_run
from tui.core.train.settings import (
    FORM_FIELDS,
    PrepareError,
    RunSettings,
    form_defaults,
    settings_from_form,
)

SPEC = {
    "format": 1,
    "input_shape": [2],
    "layers": [
        {"type": "Linear", "in_features": 2, "out_features": 8},
        {"type": "ReLU"},
        {"type": "Linear", "in_features": 8, "out_features": 2},
    ],
}


def cli_args(**given) -> argparse.Namespace:
    """What cli.py's train subparser gives for options left out: None."""
    names = ("loss", "epochs", "batch_size", "lr", "optimizer", "seed", "val_split")
    names += ("weight_decay", "momentum", "grad_clip", "num_threads", "device")
    values = dict.fromkeys(names)
    values.update(spec="spec.json", data="spirals", workspace=None, run_dir=None)
    values.update(given)
    return argparse.Namespace(**values)


def test_form_and_command_line_share_the_defaults():
    form = settings_from_form(form_defaults(), device="cpu")
    cli = settings_from_args(cli_args(device="cpu"))
    assert form.config == cli.config == TrainConfig(device="cpu")
    assert form.model == "builder" and form.data == "spirals"
    assert form_defaults()["epochs"] == "10" and form_defaults()["lr"] == "0.001"
    assert [f.name for f in FORM_FIELDS][:2] == ["model", "data"]


def test_form_text_becomes_settings():
    form = form_defaults() | {"model": " net ", "lr": "0.01", "epochs": "3", "loss": "mse"}
    settings = settings_from_form(form, device="cpu")
    assert settings.model == "net"
    assert (settings.config.lr, settings.config.epochs, settings.config.loss) == (0.01, 3, "mse")
    # Empty fields take the defaults; an empty device the REPL's.
    blank = settings_from_form({"lr": "", "device": "", "model": ""}, device="meta")
    assert blank.config.lr == TrainConfig().lr and blank.config.device == "meta"
    assert blank.model == "builder"


@pytest.mark.parametrize(
    "field, text, words",
    [
        ("lr", "abc", "lr: 'abc' is not a number"),
        ("epochs", "2.5", "epochs: '2.5' is not an integer"),
        ("epochs", "0", "epochs must be at least 1"),
        ("optimizer", "lion", "optimizer 'lion'"),
        ("device", "tpu9", "device 'tpu9' is not a device name"),
    ],
)
def test_bad_form_text_names_the_field(field, text, words):
    with pytest.raises(PrepareError) as info:
        settings_from_form(form_defaults() | {field: text}, device="cpu")
    assert words in info.value.text()


def test_error_text_spells_the_setting_as_a_flag_on_the_command_line():
    exc = PrepareError("run_dir: x already holds a run", setting="run_dir")
    assert exc.text() == "run_dir: x already holds a run"
    assert exc.text(as_flag=True) == "--run-dir: x already holds a run"
    assert PrepareError("lr must be above 0").text(as_flag=True) == "lr must be above 0"


def test_builder_stack_and_spec_file_prepare_the_same_run(tmp_path):
    stack = LayerStack.from_dict(SPEC)
    settings = RunSettings(model="builder", data="spirals:n=200", config=TrainConfig(epochs=2))
    monitor = prepare_run(settings, workspace=tmp_path / "a", stack=stack)
    cli = prepare_run(
        RunSettings(model="spec.json", data="spirals:n=200", config=TrainConfig(epochs=2)),
        workspace=tmp_path / "b",
        stack=stack,
        spec_path="spec.json",
        command=["dltui", "train"],
    )
    assert monitor.config == cli.config and monitor.config.loss == "cross_entropy"
    assert monitor.run_dir.name.endswith("-spirals-mlp") and cli.run_dir.name.endswith(
        "-spirals-mlp"
    )
    a = json.loads((monitor.run_dir.path / "config.json").read_text())
    b = json.loads((cli.run_dir.path / "config.json").read_text())
    assert a["train"] == b["train"] and a["spec"] == b["spec"] == SPEC
    assert (a["model"], b["model"], b["spec_path"], b["command"]) == (
        "builder",
        "spec",
        "spec.json",
        ["dltui", "train"],
    )
    assert "command" not in a
    code = (monitor.run_dir.path / "model.py").read_text()
    assert code == (cli.run_dir.path / "model.py").read_text()
    assert monitor.trainer.state == RunState.IDLE
    # Same seed, same initial weights, whichever path built them.
    for p, q in zip(
        monitor.trainer.model.parameters(), cli.trainer.model.parameters(), strict=True
    ):
        assert torch.equal(p, q)


def test_repl_module_is_trained_in_place(tmp_path):
    net = nn.Sequential(nn.Linear(1, 4), nn.Tanh(), nn.Linear(4, 1))
    settings = RunSettings(model="net", data="sine:n=100", config=TrainConfig(epochs=1))
    run = prepare_run(settings, workspace=tmp_path, namespace={"net": net})
    assert run.trainer.model is net and run.config.loss == "mse" and run.task == "regression"
    assert run.run_dir.name.endswith("-sine-net")
    config = json.loads((run.run_dir.path / "config.json").read_text())
    assert config["model"] == "net" and config["spec"] is None and "Linear" in config["model_repr"]
    assert "REPL variable 'net'" in (run.run_dir.path / "model.py").read_text()


@pytest.mark.parametrize(
    "settings, namespace, stack, words",
    [
        (RunSettings(), None, None, "the builder (F3) has no stack yet"),
        (RunSettings(model="x"), {"x": 3}, None, "'x' is not an nn.Module in the REPL"),
        (RunSettings(model="net", data="nosuchset"), "net", None, "data: unknown data 'nosuchset'"),
        (RunSettings(data="sine"), None, SPEC, "builder's input shape is [2] but the data's"),
        (
            RunSettings(model="frozen"),
            "frozen",
            None,
            "the model 'frozen' has no trainable parameters",
        ),
        (
            RunSettings(data="spirals:classes=3"),
            None,
            SPEC,
            "outputs (B, 2) but the data has 3 classes",
        ),
    ],
)
def test_problems_are_found_before_anything_is_written(tmp_path, settings, namespace, stack, words):
    if namespace == "net":
        namespace = {"net": nn.Linear(2, 2)}
    elif namespace == "frozen":
        namespace = {"frozen": nn.Linear(2, 2).requires_grad_(False)}
    with pytest.raises(PrepareError) as info:
        prepare_run(
            settings,
            workspace=tmp_path,
            stack=LayerStack.from_dict(stack) if stack else None,
            namespace=namespace,
        )
    assert words in info.value.text()
    assert not (tmp_path / "runs").exists()


def test_spec_input_shape_mismatch_names_the_file(tmp_path):
    with pytest.raises(PrepareError, match=r"set input_shape to \[1\] in my.json"):
        prepare_run(
            RunSettings(model="my.json", data="sine"),
            workspace=tmp_path,
            stack=LayerStack.from_dict(SPEC),
            spec_path="my.json",
        )


def test_labels():
    assert data_label("spirals:n=9") == "spirals" and data_label("a/b/x.csv:target=y") == "x"
    assert model_kind(nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten())) == "cnn"
    assert model_kind(nn.Sequential(nn.Linear(2, 2))) == "mlp"
    assert model_kind(nn.ReLU()) == "model"


def test_the_form_sets_schedule_precision_compile_and_workers():
    form = form_defaults() | {
        "schedule": "cosine", "precision": "bf16", "compile": "on", "workers": "3",
    }  # fmt: skip
    config = settings_from_form(form, device="cpu").config
    assert (config.schedule, config.precision, config.compile, config.workers) == (
        "cosine", "bf16", True, 3,
    )  # fmt: skip
    blank = settings_from_form(form_defaults(), device="cpu").config
    assert (blank.compile, blank.workers, blank.precision) == (False, None, "32")
    with pytest.raises(PrepareError, match="workers: 'many' is not an integer"):
        settings_from_form(form_defaults() | {"workers": "many"}, device="cpu")
    from tui.core.train.settings import form_from_config

    shown = form_from_config({"train": {"compile": True, "precision": "bf16", "workers": 2}})
    assert (shown["compile"], shown["precision"], shown["workers"]) == ("on", "bf16", "2")
