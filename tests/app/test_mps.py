"""Apple-MPS paths: skipped without MPS (CI has none); run on a Mac with
``python -m pytest tests/app/test_mps.py``. The float64 rule behind them is shown on the
CPU too (tests/train/test_device_paths.py)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytestmark = pytest.mark.skipif(
    not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()),
    reason="needs Apple MPS",
)


def test_a_run_with_validation_finishes_on_mps():
    from tui.core.train.config import TrainConfig
    from tui.core.train.data import load_data
    from tui.core.train.trainer import Trainer

    bundle = load_data("spirals:n=512").split(0.2, seed=0)
    model = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))
    trainer = Trainer(model, bundle, TrainConfig(device="mps", epochs=3, lr=1e-2))
    trainer._run()
    assert trainer.state == "finished", trainer.error
    assert trainer.progress.val_loss is not None and trainer.progress.val_loss > 0
    points = [p.value for p in trainer.buffer.drain() if p.name == "train/loss"]
    assert points and all(v > 0 for v in points)  # read back as numbers, not zeros


def test_float64_samples_train_on_mps():
    from torch.utils.data import TensorDataset

    from tui.core.train.config import TrainConfig
    from tui.core.train.data.bundle import DataBundle
    from tui.core.train.trainer import Trainer

    x = torch.randn(256, 3, dtype=torch.float64)
    bundle = DataBundle(
        train=TensorDataset(x, x.sum(1, keepdim=True)), val=None, task="regression",
        num_classes=None, input_shape=(3,), target_shape=(1,), description="f64",
        source="repl",
    )  # fmt: skip
    trainer = Trainer(nn.Linear(3, 1), bundle, TrainConfig(device="mps", loss="mse", epochs=2))
    trainer._run()
    assert trainer.state == "finished", trainer.error
