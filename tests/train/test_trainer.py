"""The training loop in its thread: learning, control, failures, and what it writes."""

from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from tui.core.train.buffer import MetricBuffer
from tui.core.train.config import TrainConfig, default_num_threads
from tui.core.train.data import load_data
from tui.core.train.runs import MetricsReader, RunDir, load_checkpoint, read_status
from tui.core.train.series import MetricPoint
from tui.core.train.trainer import Trainer

TIMEOUT = 60  # generous deadlines: the machine is shared; tests wait on states, not sleeps


def mlp(inp=2, hidden=64, out=2):
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(inp, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, out),
    )  # fmt: skip


def run_to_end(trainer: Trainer) -> Trainer:
    trainer.start()
    assert trainer.join(TIMEOUT), "the run did not end in time"
    return trainer


def long_run(run_dir=None, **cfg) -> Trainer:
    """A run long enough to be controlled (stopped by the test)."""
    bundle = load_data("moons:n=256").split(0.25, seed=0)
    config = TrainConfig(epochs=10_000, batch_size=16, lr=1e-3, **cfg)
    return Trainer(mlp(hidden=8), bundle, config, run_dir, flush_interval=0.05)


def test_two_spirals_reach_95_percent_validation_accuracy():
    bundle = load_data("spirals:n=1000").split(0.2, seed=0)
    config = TrainConfig(loss="cross_entropy", optimizer="adam", lr=1e-2, batch_size=32, epochs=30)
    trainer = run_to_end(Trainer(mlp(), bundle, config))
    p = trainer.progress
    assert trainer.state == "finished", trainer.error
    assert p.val_accuracy >= 0.95, p
    assert p.epochs_done == 30 and p.step == p.total_steps == 30 * 25
    assert p.best_val_loss <= p.val_loss + 1e-12
    # The trained model is left in eval mode, ready for predictions.
    assert not trainer.model.training
    x, y = bundle.val.dataset.tensors
    acc = (trainer.model(x[bundle.val.indices]).argmax(1) == y[bundle.val.indices]).float().mean()
    assert float(acc) == pytest.approx(p.val_accuracy)


def test_metric_buffer_points_and_names():
    bundle = load_data("moons:n=200").split(0.2)
    trainer = run_to_end(Trainer(mlp(hidden=8), bundle, TrainConfig(epochs=2, batch_size=40)))
    points = trainer.buffer.drain()
    assert trainer.buffer.drain() == []
    names = {p.name for p in points}
    assert names == {"train/loss", "val/loss", "val/accuracy", "lr"}
    steps = [p.step for p in points if p.name == "train/loss"]
    assert steps == list(range(1, 9))  # 160 train samples / 40 = 4 steps per epoch
    vals = [p for p in points if p.name == "val/loss"]
    assert [(p.step, p.epoch) for p in vals] == [(4, 1), (8, 2)]
    assert all(isinstance(p, MetricPoint) and p.time > 1e9 for p in points)


def test_regression_and_bce_with_binary_labels():
    sine = load_data("sine:n=300").split(0.2)
    t = run_to_end(Trainer(mlp(1, 32, 1), sine, TrainConfig(loss="mse", epochs=3, lr=1e-2)))
    assert t.state == "finished" and t.progress.val_accuracy is None
    moons = load_data("moons:n=200").split(0.2)
    cfg = TrainConfig(loss="bce_with_logits", optimizer="sgd", epochs=3, lr=0.1, grad_clip=1.0)
    t = run_to_end(Trainer(mlp(2, 16, 1), moons, cfg))
    assert t.state == "finished" and 0.0 <= t.progress.val_accuracy <= 1.0


def test_same_seed_same_run():
    def final_loss():
        bundle = load_data("moons:n=200").split(0.2, seed=3)
        cfg = TrainConfig(epochs=2, batch_size=16, seed=3, num_threads=1)
        return run_to_end(Trainer(mlp(hidden=8), bundle, cfg)).progress.val_loss

    assert final_loss() == final_loss()


def test_pause_step_resume_stop(tmp_path):
    run = RunDir.at(tmp_path / "run")
    trainer = long_run(run)
    trainer.pause()  # before start: starts paused
    trainer.start()
    assert trainer.wait_for_state("paused", timeout=TIMEOUT)
    assert trainer.progress.step == 0

    trainer.step_once()
    assert trainer.wait_for(lambda t: t.progress.step == 1, timeout=TIMEOUT)
    assert trainer.state == "paused"
    trainer.step_once()
    trainer.step_once()
    assert trainer.wait_for(lambda t: t.progress.step == 3, timeout=TIMEOUT)
    # Paused means paused: the step count holds while nothing is requested.
    assert not trainer.wait_for(lambda t: t.progress.step > 3, timeout=0.3)
    # Everything up to the pause is visible to a UI (the buffer) and to a reader (the file).
    assert trainer.wait_for(
        lambda t: (
            [p.step for p in MetricsReader(run.path).read_all() if p.name == "train/loss"]
            == [1, 2, 3]
        ),
        timeout=TIMEOUT,
    )

    trainer.resume()
    assert trainer.wait_for(lambda t: t.progress.step > 10, timeout=TIMEOUT)
    assert trainer.state == "running"
    trainer.step_once()  # while running: one more step, then paused
    assert trainer.wait_for_state("paused", timeout=TIMEOUT)
    paused_at = trainer.progress.step

    trainer.stop()
    assert trainer.join(TIMEOUT)
    assert trainer.state == "stopped" and trainer.error is None
    assert trainer.progress.step == paused_at
    status = read_status(run.path)
    assert status["state"] == "stopped" and status["step"] == paused_at
    ckpt = load_checkpoint(run.path)
    assert ckpt["step"] == paused_at
    last = [p for p in MetricsReader(run.path).read_all() if p.name == "train/loss"]
    assert last[-1].step == paused_at  # metrics flushed to the end


def test_stop_while_running_and_before_start():
    trainer = long_run()
    trainer.start()
    assert trainer.wait_for(lambda t: t.progress.step > 5, timeout=TIMEOUT)
    trainer.stop()
    assert trainer.join(TIMEOUT) and trainer.state == "stopped"
    steps = [p.step for p in trainer.buffer.drain() if p.name == "train/loss"]
    assert steps == list(range(1, trainer.progress.step + 1))  # no step lost or torn

    idle = long_run()
    idle.stop()
    assert idle.state == "stopped" and idle.join(0)
    with pytest.raises(RuntimeError):
        idle.start()


def test_set_lr_applies_to_the_next_steps():
    trainer = long_run(optimizer="sgd")
    trainer.pause()
    trainer.start()
    assert trainer.wait_for_state("paused", timeout=TIMEOUT)
    trainer.set_lr(0.5)
    trainer.step_once()
    assert trainer.wait_for(lambda t: t.progress.step == 1, timeout=TIMEOUT)
    assert all(g["lr"] == 0.5 for g in trainer.optimizer.param_groups)
    assert trainer.progress.lr == 0.5
    trainer.stop()
    assert trainer.join(TIMEOUT)
    lrs = [(p.step, p.value) for p in trainer.buffer.drain() if p.name == "lr"]
    assert lrs[0] == (0, 1e-3) and (1, 0.5) in lrs
    with pytest.raises(ValueError):
        trainer.set_lr(-1)
    with pytest.raises(ValueError):
        trainer.set_lr(math.nan)


def test_progress_snapshot_fields():
    bundle = load_data("moons:n=200").split(0.2)
    trainer = Trainer(mlp(hidden=8), bundle, TrainConfig(epochs=2, batch_size=40))
    p = trainer.progress
    assert (p.state, p.step, p.steps_per_epoch, p.total_steps) == ("idle", 0, 4, 8)
    run_to_end(trainer)
    p = trainer.progress
    assert p.state == "finished" and p.epoch == 2 and p.eta_seconds is None
    assert p.samples_per_sec > 0 and p.train_loss > 0 and p.epoch_train_loss > 0
    assert p.cuda_memory_allocated is None and p.lr == 1e-3


# --- failures ----------------------------------------------------------------------------


def test_shape_mismatch_fails_in_plain_words(tmp_path):
    run = RunDir.at(tmp_path / "r")
    bundle = load_data("spirals:n=100").split(0.2)
    trainer = run_to_end(Trainer(mlp(out=10), bundle, TrainConfig(epochs=1), run))
    assert trainer.state == "failed"
    assert "outputs (B, 10) but the data has 2 classes" in trainer.error
    status = read_status(run.path)
    assert status["state"] == "failed" and status["error"] == trainer.error


def test_nan_loss_from_a_huge_learning_rate(tmp_path):
    run = RunDir.at(tmp_path / "r")
    bundle = load_data("linear:n=256").split(0.2)
    cfg = TrainConfig(loss="mse", optimizer="sgd", momentum=0.0, lr=1e6, epochs=50)
    trainer = run_to_end(Trainer(mlp(1, 16, 1), bundle, cfg, run, flush_interval=0.05))
    assert trainer.state == "failed"
    assert "loss became" in trainer.error and "lower the learning rate" in trainer.error
    bad_step = int(trainer.error.split("at step ")[1].split()[0])
    points = [p for p in MetricsReader(run.path).read_all() if p.name == "train/loss"]
    # Metrics up to and including the first bad step were kept and flushed.
    assert points[-1].step == bad_step and not math.isfinite(points[-1].value)
    assert all(math.isfinite(p.value) for p in points[:-1])
    assert read_status(run.path)["state"] == "failed"


def test_nan_from_the_model_itself():
    class NaNAfter(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin = nn.Linear(2, 2)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            out = self.lin(x)
            return out * math.nan if self.calls > 6 else out

    bundle = load_data("moons:n=200").split(0.2)
    trainer = run_to_end(Trainer(NaNAfter(), bundle, TrainConfig(epochs=5, batch_size=20)))
    assert trainer.state == "failed"
    # The compatibility check runs once in eval mode; the 6th training step is the last good.
    assert "loss became NaN at step 6 (epoch 1)" in trainer.error


class Flaky(Dataset):
    # torchvision-style labels, so loading needs no __getitem__ and the trainer meets
    # the bad record (test_data covers a failure at load time).
    targets = [i % 2 for i in range(64)]

    def __len__(self):
        return 64

    def __getitem__(self, i):
        if i == 37:
            raise ValueError("corrupt record")
        return torch.tensor([float(i % 2), 1.0]), i % 2


def test_dataset_that_raises_names_its_message_and_index(tmp_path):
    run = RunDir.at(tmp_path / "r")
    bundle = load_data("flaky", {"flaky": Flaky()})
    trainer = run_to_end(Trainer(mlp(hidden=8), bundle, TrainConfig(epochs=2, batch_size=8), run))
    assert trainer.state == "failed"
    assert "ValueError when reading sample 37: corrupt record" in trainer.error
    assert "corrupt record" in read_status(run.path)["error"]
    assert trainer.traceback and "ValueError" in trainer.traceback


def test_bad_config_is_refused_up_front():
    bundle = load_data("moons:n=20")
    for bad in (
        {"loss": "hinge"},
        {"optimizer": "lion"},
        {"lr": 0},
        {"batch_size": 0},
        {"epochs": 0},
        {"grad_clip": -1.0},
        {"device": "gpu"},
        {"val_split": 1.0},
    ):
        with pytest.raises(ValueError):
            Trainer(mlp(), bundle, TrainConfig(**bad))


def test_unavailable_cuda_fails_in_plain_words():
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    bundle = load_data("moons:n=20")
    trainer = run_to_end(Trainer(mlp(), bundle, TrainConfig(device="cuda")))
    assert trainer.state == "failed" and "CUDA is not available" in trainer.error


# --- run directory -------------------------------------------------------------------------


def test_run_directory_contents_and_checkpoint_reproduces_predictions(tmp_path):
    run = RunDir.create(tmp_path, label="moons-mlp")
    run.write_config({"data": "moons:n=300", "lr": 1e-2})
    run.write_model_code("def build_model(): ...\n")
    bundle = load_data("moons:n=300").split(0.2)
    cfg = TrainConfig(epochs=3, lr=1e-2, batch_size=30)
    trainer = run_to_end(Trainer(mlp(hidden=16), bundle, cfg, run))
    assert trainer.state == "finished"
    files = sorted(p.name for p in run.path.iterdir())
    assert files == [
        "checkpoint-best.pt",
        "checkpoint-last.pt",
        "config.json",
        "metrics.jsonl",
        "model.py",
        "status.json",
    ]
    status = read_status(run.path)
    assert status["state"] == "finished" and status["step"] == 24 and status["epoch"] == 3
    assert status["best_val_loss"] == pytest.approx(trainer.progress.best_val_loss)
    lines = (run.path / "metrics.jsonl").read_text().splitlines()
    assert all(
        set(json.loads(line)) == {"step", "epoch", "time", "name", "value"} for line in lines
    )
    assert len(MetricsReader(run.path).read()) == len(lines)

    ckpt = load_checkpoint(run.path / "checkpoint-last.pt")  # weights_only=True
    assert (ckpt["step"], ckpt["epoch"]) == (24, 3)
    clone = mlp(hidden=16)
    clone.load_state_dict(ckpt["model"])
    clone.eval()
    x = torch.randn(50, 2)
    with torch.no_grad():
        torch.testing.assert_close(clone(x), trainer.model(x))
    best = load_checkpoint(run.path / "checkpoint-best.pt")
    assert best["val_loss"] == pytest.approx(trainer.progress.best_val_loss)


def test_metric_buffer_is_bounded_and_thread_safe():
    import threading

    buf = MetricBuffer(max_points=1000)

    def writer(k):
        for i in range(500):
            buf.append(MetricPoint(i, 1, 0.0, f"w{k}", 1.0))

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(buf) == 1000 and buf.dropped == 1000
    assert len(buf.drain()) == 1000 and len(buf) == 0


def test_default_num_threads_leaves_a_core():
    assert 1 <= default_num_threads() <= 8
