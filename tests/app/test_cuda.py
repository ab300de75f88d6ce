"""CUDA-only paths: skipped without CUDA (CI has none); run on a GPU machine.

On a GPU box, ``python -m pytest tests/test_cuda.py`` checks that the REPL binds a cuda
``device``, the inspector reports cuda tensors and memory, the device-mismatch error is
explained, the builder's module lands on cuda, and the trainer trains on cuda with its
losses read back in batches (not one ``.item()`` per step) and memory figures reported.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


def test_session_defaults_to_cuda_and_explains_device_mismatch():
    from tui.core.repl.session import Session

    session = Session()
    info = session.load()
    assert info.device == "cuda" and info.cuda_available
    result = session.run("a = torch.ones(2, 2, device=device)\nb = torch.ones(2, 2)\na @ b")
    assert result.error and "cuda" in result.error
    assert result.explanation is not None and ".to(" in result.explanation


def test_inspector_rows_and_memory_on_cuda():
    from tui.core.repl.inspect import cuda_memory, describe, memory_by_device, tensor_stats

    t = torch.arange(1000.0, device="cuda")
    row = describe("t", t)
    assert row is not None and row.device.startswith("cuda") and row.nbytes == 4000
    assert memory_by_device([row])[row.device] == 4000
    mem = cuda_memory()
    assert mem is not None and mem["allocated"] >= 4000 and mem["reserved"] >= mem["allocated"]
    stats = dict(tensor_stats("t", t).lines)
    assert float(stats["max"]) == 999.0


def test_builder_module_on_cuda():
    from tui.core.builder.codegen import build_module
    from tui.core.builder.presets import PRESETS

    model = build_module(PRESETS["Quickstart MLP"].copy(), device="cuda")
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert model(torch.randn(2, 1, 28, 28, device="cuda")).shape == (2, 10)


def test_trainer_on_cuda_batches_loss_readback(monkeypatch):
    from tui.core.train.config import TrainConfig
    from tui.core.train.data import load_data
    from tui.core.train.trainer import Trainer

    calls = {"item": 0}
    original_item = torch.Tensor.item

    def counting_item(self):
        if self.device.type == "cuda":
            calls["item"] += 1
        return original_item(self)

    monkeypatch.setattr(torch.Tensor, "item", counting_item)
    bundle = load_data("spirals:n=2000").split(0.2)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 2))
    config = TrainConfig(device="cuda", epochs=3, batch_size=32, lr=1e-2)
    trainer = Trainer(model, bundle, config)
    trainer.start()
    assert trainer.join(timeout=120)
    assert trainer.state == "finished", trainer.error
    steps = trainer.progress.step
    points = [p for p in trainer.buffer.drain() if p.name == "train/loss"]
    assert len(points) == steps
    # Per-step .item() on CUDA would be one sync per step; the loop must batch them.
    assert calls["item"] < steps / 2
    progress = trainer.progress
    assert progress.cuda_memory_allocated is not None and progress.cuda_memory_peak
    assert next(trainer.model.parameters()).device.type == "cuda"
