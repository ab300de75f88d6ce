"""The NaN post-mortem: where a run first went non-finite, found by replaying the batch;
headless the run fails with the report on disk, in the TUI's mode it pauses for the REPL
and goes on once the batch is fixed."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import TensorDataset

from tui.cli import main
from tui.core.train.config import TrainConfig
from tui.core.train.data.bundle import DataBundle
from tui.core.train.nan import NAN_REPORT
from tui.core.train.runs import RunDir, read_status
from tui.core.train.trainer import Trainer

TIMEOUT = 60


def bundle(x: torch.Tensor, y: torch.Tensor) -> DataBundle:
    return DataBundle(
        train=TensorDataset(x, y), val=None, task="classification", num_classes=2,
        input_shape=tuple(x.shape[1:]), target_shape=(), description="d", source="repl",
    )  # fmt: skip


def data_with_a_nan(row: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 2, generator=g)
    y = (x[:, 0] > 0).long()
    x[row, 1] = float("nan")
    return x, y


def net(hidden: int = 8) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, 2))


def test_nan_in_the_data_fails_the_run_with_a_report_naming_the_inputs(tmp_path: Path):
    run_dir = RunDir.create(tmp_path, label="nan")
    trainer = Trainer(net(), bundle(*data_with_a_nan()), TrainConfig(epochs=2), run_dir)
    trainer._run()
    assert trainer.state == "failed"
    assert "the inputs hold NaN" in trainer.error and "nan_to_num" in trainer.error
    report = trainer.nan_report
    assert report is not None and report.step >= 1 and report.late_by == 0
    on_disk = json.loads((run_dir.path / NAN_REPORT).read_text())
    assert on_disk["step"] == report.step and on_disk["loss"] == "nan"
    assert "the inputs hold NaN" in on_disk["text"]
    assert read_status(run_dir.path)["nan_report"]["where"] == report.where
    # The steps before it were taken; the bad one was not.
    assert trainer.progress.step == report.step - 1


def test_a_diverging_learning_rate_names_the_layer_and_the_gradient_norms():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 2, generator=g)
    trainer = Trainer(
        net(64), bundle(x, (x[:, 0] > 0).long()),
        TrainConfig(epochs=20, batch_size=16, lr=1e6, optimizer="sgd"),
    )  # fmt: skip
    trainer._run()
    assert trainer.state == "failed"
    report = trainer.nan_report
    assert report.layer in ("0", "2"), report.where
    assert f"layer {report.layer} (Linear)" in report.where
    norms = [v for _, v in report.grad_norms]
    assert len(norms) == report.step - 1 and norms[-1] > 1e3 * norms[0]  # exploding
    assert report.lr == 1e6 and "lower the learning rate" in report.fix


def test_a_loss_that_alone_goes_non_finite_points_at_the_targets():
    class LogLoss(nn.Module):
        """A model whose outputs are fine for a loss that takes their log."""

        def forward(self, x):
            return x

    x = torch.zeros(32, 2)
    y = torch.zeros(32, 2)
    data = DataBundle(
        train=TensorDataset(x, y), val=None, task="regression", num_classes=None,
        input_shape=(2,), target_shape=(2,), description="d", source="repl",
    )  # fmt: skip
    model = nn.Sequential(nn.Linear(2, 2))
    with torch.no_grad():
        model[0].weight.fill_(0.0)
        model[0].bias.fill_(float("inf"))  # outputs inf: the layer is named
    trainer = Trainer(model, data, TrainConfig(loss="mse", epochs=1))
    trainer._run()
    assert trainer.state == "failed"
    assert "weights already hold non-finite values (0.bias)" in trainer.error


def test_paused_for_the_repl_then_resumed_once_the_batch_is_fixed():
    trainer = Trainer(net(), bundle(*data_with_a_nan()), TrainConfig(epochs=2, batch_size=16))
    trainer.on_nan = "pause"
    trainer.start()
    assert trainer.wait_for(lambda t: t.state == "paused" and t.post_mortem is not None, TIMEOUT)
    pm = trainer.post_mortem
    names = pm.names()
    assert set(names) == {"model", "batch", "loss", "nan_report"}
    assert names["model"] is trainer.model and torch.isnan(names["loss"]).all()
    x, _ = names["batch"]
    assert torch.isnan(x).any() and x.shape == (16, 2)
    step = trainer.progress.step
    assert names["nan_report"].step == step + 1
    assert "inputs hold NaN" in repr(names["nan_report"])
    x.nan_to_num_(0.0)  # the user's fix of this batch, in place, in the REPL
    trainer.resume()
    # The fixed batch is retried; the next epoch meets the same bad sample of the data.
    assert trainer.wait_for(lambda t: t.state == "paused" and t.post_mortem is not pm, TIMEOUT), (
        trainer.error
    )
    assert trainer.post_mortem.report.epoch == 2
    trainer.bundle.train.tensors[0].nan_to_num_(0.0)  # now the data itself
    trainer.post_mortem.batch[0].nan_to_num_(0.0)
    trainer.resume()
    assert trainer.join(TIMEOUT) and trainer.state == "finished", trainer.error
    assert trainer.progress.step == 2 * 16  # every batch taken once, none skipped


def test_headless_train_exits_1_with_the_report(tmp_path: Path, capsys):
    x, y = data_with_a_nan()
    import numpy as np

    np.savez(tmp_path / "d.npz", X=x.numpy(), y=y.numpy())
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {"format": 1, "input_shape": [2],
             "layers": [{"type": "Linear", "in_features": 2, "out_features": 2}]}
        )
    )  # fmt: skip
    # dltui refuses NaN in files it loads (one line, exit 2): the report is for the
    # NaN that training itself produces, here a diverging lr.
    assert main(["train", str(spec), "--data", str(tmp_path / "d.npz")]) == 2
    spec.write_text(
        json.dumps(
            {"format": 1, "input_shape": [1],
             "layers": [{"type": "Linear", "in_features": 1, "out_features": 16},
                        {"type": "ReLU"},
                        {"type": "Linear", "in_features": 16, "out_features": 1}]}
        )
    )  # fmt: skip
    run = tmp_path / "run"
    rc = main(["train", str(spec), "--data", "sine:n=200", "--lr", "10",
               "--optimizer", "sgd", "--epochs", "50", "--run-dir", str(run)])  # fmt: skip
    assert rc == 1
    err = capsys.readouterr().err
    assert "training failed:" in err and "try:" in err
    report = json.loads((run / NAN_REPORT).read_text())
    assert report["step"] >= 1 and report["where"]
    assert read_status(run)["state"] == "failed"


def test_non_finite_weights_never_replace_the_last_good_checkpoint(tmp_path: Path):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(256, 2, generator=g)
    run_dir = RunDir.create(tmp_path, label="keep")
    model = net()
    trainer = Trainer(
        model, bundle(x, (x[:, 0] > 0).long()), TrainConfig(epochs=3, batch_size=16), run_dir
    )
    trainer.on_nan = "pause"
    trainer.pause()
    for _ in range(16):  # one whole epoch: its end writes checkpoint-last.pt
        trainer.step_once()
    trainer.start()
    # The epoch's end (its checkpoint) comes after its last step: wait for it.
    assert trainer.wait_for(lambda t: t.progress.epochs_done == 1, TIMEOUT)
    good = torch.load(run_dir.path / "checkpoint-last.pt", weights_only=True)
    with torch.no_grad():
        model[0].weight.fill_(float("nan"))  # the weights blow up
    trainer.stop()  # a stop writes a checkpoint, but not of these weights
    assert trainer.join(TIMEOUT) and trainer.state == "stopped"
    kept = torch.load(run_dir.path / "checkpoint-last.pt", weights_only=True)
    assert kept["step"] == good["step"] == 16 and trainer.checkpoint_skipped
    assert torch.isfinite(kept["model"]["0.weight"]).all()


def test_grads_finite_from_the_norm_and_gradient_by_gradient() -> None:
    from tui.core.train.nan import grad_norm, grads_finite

    w, b = torch.zeros(3, requires_grad=True), torch.zeros(2, requires_grad=True)
    params = [w, b]
    w.grad, b.grad = torch.ones(3), torch.ones(2)
    assert grads_finite(params, grad_norm(params)) and grads_finite(params)
    b.grad = torch.tensor([1.0, float("nan")])
    assert not grads_finite(params, grad_norm(params)) and not grads_finite(params)
    b.grad = torch.tensor([1.0, float("-inf")])
    assert not grads_finite(params, grad_norm(params))
    # Huge but finite: the float32 norm overflows, the gradients are still fine.
    b.grad = torch.tensor([3e38, 3e38])
    norm = grad_norm(params)
    assert norm is not None and not torch.isfinite(norm)
    assert grads_finite(params, norm)
