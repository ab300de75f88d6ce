"""A Dataset that is not tensor-backed trains through a DataLoader: worker processes,
the trainer's own shuffling, errors that still name the sample, workers stopped at the
end."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, get_worker_info

from tui.core.train import loader as loader_module
from tui.core.train.config import TrainConfig
from tui.core.train.data.bundle import DataBundle
from tui.core.train.loader import default_workers
from tui.core.train.trainer import Trainer


class Blobs(Dataset):
    """Two classes of points, read one by one (as a REPL Dataset is); with ``marks``,
    each worker process leaves a file named by its pid."""

    def __init__(self, n: int = 256, marks: Path | None = None, bad: int | None = None):
        g = torch.Generator().manual_seed(0)
        self.y = torch.arange(n) % 2
        self.x = torch.randn(n, 2, generator=g) + 3 * self.y[:, None].float()
        self.marks, self.bad = marks, bad

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int):
        if self.marks is not None and get_worker_info() is not None:
            (self.marks / str(os.getpid())).touch()
        if i == self.bad:
            raise ValueError(f"sample {i} is corrupt")
        return self.x[i], self.y[i]


def bundle(ds: Dataset) -> DataBundle:
    return DataBundle(
        train=ds, val=None, task="classification", num_classes=2, input_shape=(2,),
        target_shape=(), description="blobs", source="repl",
    )  # fmt: skip


def run(ds: Dataset, workers: int, epochs: int = 3) -> Trainer:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    config = TrainConfig(epochs=epochs, batch_size=32, lr=1e-2, workers=workers)
    trainer = Trainer(model, bundle(ds), config)
    trainer._run()
    return trainer


def losses(trainer: Trainer) -> list[float]:
    return [p.value for p in trainer.buffer.drain() if p.name == "train/loss"]


def test_workers_read_the_samples_and_train_as_the_thread_does(tmp_path: Path):
    marks = tmp_path / "marks"
    marks.mkdir()
    with_workers = run(Blobs(marks=marks), workers=2)
    assert with_workers.state == "finished", with_workers.error
    pids = {int(p.name) for p in marks.iterdir()}
    assert pids and os.getpid() not in pids  # read in worker processes
    in_thread = run(Blobs(), workers=0)
    assert in_thread.state == "finished", in_thread.error
    # The trainer's own shuffling, whatever reads the samples: the same run.
    assert losses(with_workers) == pytest.approx(losses(in_thread))
    # Persistent workers are stopped once the run has ended.
    assert multiprocessing.active_children() == []


def test_a_sample_that_raises_in_a_worker_is_named(tmp_path: Path):
    trainer = run(Blobs(bad=37), workers=2, epochs=1)
    assert trainer.state == "failed"
    assert "the dataset raised ValueError when reading sample 37: sample 37 is corrupt" in (
        trainer.error
    ), trainer.error
    assert multiprocessing.active_children() == []


class Ragged(Dataset):
    def __len__(self) -> int:
        return 64

    def __getitem__(self, i: int):
        return torch.zeros(2 if i < 40 else 3), torch.tensor(i % 2)


def test_samples_that_cannot_be_batched_say_so():
    trainer = run(Ragged(), workers=2, epochs=1)
    assert trainer.state == "failed"
    assert "samples cannot be batched" in trainer.error, trainer.error


def test_default_workers_leave_two_cores(monkeypatch):
    for cores, want in ((1, 0), (2, 0), (4, 2), (16, 8), (64, 8)):
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid, c=cores: set(range(c)))
        assert default_workers() == want


def test_the_workers_chosen_are_in_config_json(tmp_path: Path, monkeypatch):
    from tui.cli import main

    monkeypatch.setattr(loader_module, "default_workers", lambda: 3)
    import tui.core.train.prepare as prepare_module

    monkeypatch.setattr(prepare_module, "default_workers", lambda: 3)
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {"format": 1, "input_shape": [2],
             "layers": [{"type": "Linear", "in_features": 2, "out_features": 2}]}
        )
    )  # fmt: skip
    base = ["train", str(spec), "--data", "spirals:n=64", "--epochs", "1", "--device", "cpu"]
    assert main([*base, "--run-dir", str(tmp_path / "a")]) == 0
    assert json.loads((tmp_path / "a" / "config.json").read_text())["train"]["workers"] == 3
    assert main([*base, "--workers", "0", "--run-dir", str(tmp_path / "b")]) == 0
    assert json.loads((tmp_path / "b" / "config.json").read_text())["train"]["workers"] == 0
    assert main([*base, "--workers", "-1", "--run-dir", str(tmp_path / "c")]) == 2
