"""CUDA-only paths: skipped without CUDA (CI has none); run on a GPU machine.

On a GPU box, ``python -m pytest tests/app/test_cuda.py`` checks that the REPL binds a cuda
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


def _spirals_run(tmp_path=None, **cfg):
    from tui.core.train.config import TrainConfig
    from tui.core.train.data import load_data
    from tui.core.train.runs import RunDir
    from tui.core.train.trainer import Trainer

    bundle = load_data("spirals:n=4000").split(0.2, seed=0)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 64), nn.ReLU(), nn.Linear(64, 2))
    settings = {"device": "cuda", "epochs": 5, "batch_size": 16, "lr": 1e-2} | cfg
    run_dir = RunDir.create(tmp_path, label="cuda") if tmp_path is not None else None
    return Trainer(model, bundle, TrainConfig(**settings), run_dir)


def test_trainer_on_cuda_syncs_once_per_read_back_not_per_step():
    import warnings

    trainer = _spirals_run()
    flushes = {"n": 0}
    real_flush = trainer._flush

    def counting_flush():
        flushes["n"] += 1
        real_flush()

    trainer._flush = counting_flush  # type: ignore[method-assign]
    # Every synchronising CUDA call (item, tolist, a copy to the host, nonzero...) warns.
    torch.cuda.set_sync_debug_mode("warn")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer._run()  # in this thread, so the warnings are caught here
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert trainer.state == "finished", trainer.error
    syncs = [w for w in caught if "synchroniz" in str(w.message)]
    steps = trainer.progress.step
    epochs = trainer.config.epochs
    assert steps == 5 * 200
    # One per read-back, plus a few per epoch (the shuffle's copy to the device, the
    # validation read-back) and a few at start (the fit check, the label range check).
    budget = flushes["n"] + 3 * epochs + 10
    assert len(syncs) <= budget, (len(syncs), budget, [str(w.message) for w in syncs[:5]])
    assert budget < steps / 4  # a per-step float(loss) or .tolist() would fail above
    points = [p for p in trainer.buffer.drain() if p.name == "train/loss"]
    assert len(points) == steps
    progress = trainer.progress
    assert progress.cuda_memory_allocated is not None and progress.cuda_memory_peak


def test_a_checkpoint_written_on_cuda_loads_on_a_cpu_only_process(tmp_path):
    import os
    import subprocess
    import sys

    trainer = _spirals_run(tmp_path, epochs=1)
    trainer._run()
    assert trainer.state == "finished", trainer.error
    ckpt = trainer.run_dir.path / "checkpoint-last.pt"
    code = (
        "import sys, torch\n"
        "assert not torch.cuda.is_available()\n"
        "p = torch.load(sys.argv[1], weights_only=True)\n"
        "m = torch.nn.Sequential(torch.nn.Linear(2, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))\n"
        "m.load_state_dict(p['model'])\n"
        "print('loaded', p['step'])\n"
    )
    env = os.environ | {"CUDA_VISIBLE_DEVICES": ""}
    out = subprocess.run(
        [sys.executable, "-c", code, str(ckpt)], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "loaded 200" in out.stdout


def test_a_run_ending_in_out_of_memory_gives_the_memory_back():
    import gc

    from tui.core.train.config import TrainConfig
    from tui.core.train.data import load_data
    from tui.core.train.trainer import Trainer

    class Hog(nn.Module):
        """Holds 4 GiB of activations, then asks for far more than any GPU has (in
        training only: the fit check runs in eval mode)."""

        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(2, 2)

        def forward(self, x):
            if self.training:
                held = torch.empty(1 << 30, device=x.device).requires_grad_()
                torch.empty(1 << 42, device=x.device)  # 16 TiB
                return self.lin(x) + held[0]
            return self.lin(x)

    gc.collect()
    torch.cuda.empty_cache()
    base = torch.cuda.memory_reserved()
    bundle = load_data("spirals:n=256").split(0.2, seed=0)
    trainer = Trainer(Hog(), bundle, TrainConfig(device="cuda", epochs=1, batch_size=16))
    trainer.start()
    assert trainer.join(120)
    assert trainer.state == "failed" and "ran out of memory" in trainer.error, trainer.error
    assert "lower the batch size" in trainer.error
    assert trainer.released_bytes >= 1 << 32  # the failed step's 4 GiB came back
    assert torch.cuda.memory_reserved() - base < 64 << 20
    # CUDA still works for the rest of the session.
    assert float(torch.ones(2, device="cuda").sum()) == 2.0


def test_a_finished_run_holds_no_gpu_memory_for_its_data_or_optimizer():
    import gc
    import weakref

    trainer = _spirals_run(epochs=3)
    trainer.pause()  # held after one step, to look at what it holds
    trainer.step_once()
    trainer.start()
    assert trainer.wait_for(lambda t: t.progress.step == 1 and t.state == "paused", 120)
    data = weakref.ref(trainer._train_batches.tensors[0])
    assert data().device.type == "cuda"  # the data was copied to the GPU once
    moment = weakref.ref(next(iter(trainer.optimizer.state.values()))["exp_avg"])
    trainer.resume()
    assert trainer.join(120) and trainer.state == "finished", trainer.error
    gc.collect()
    # Only the trained model (and its gradients) stay on the GPU.
    assert data() is None and moment() is None


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_training_on_the_second_gpu_stays_there():
    before0 = torch.cuda.memory_allocated(0)
    trainer = _spirals_run(device="cuda:1", epochs=1)
    trainer.start()
    assert trainer.join(120) and trainer.state == "finished", trainer.error
    assert all(p.device == torch.device("cuda:1") for p in trainer.model.parameters())
    assert torch.cuda.memory_allocated(0) == before0
    assert trainer.progress.cuda_memory_peak and trainer.progress.cuda_memory_peak > 0


def test_data_over_the_device_copy_limit_is_copied_per_batch_from_pinned_memory(monkeypatch):
    from tui.core.train.batches import Batches

    monkeypatch.setattr(Batches, "_DEVICE_COPY_LIMIT", 0)
    pinned = {"n": 0}
    real_pin = torch.Tensor.pin_memory

    def counting_pin(self, *args, **kwargs):
        pinned["n"] += 1
        return real_pin(self, *args, **kwargs)

    monkeypatch.setattr(torch.Tensor, "pin_memory", counting_pin)
    trainer = _spirals_run(epochs=1)
    trainer._run()
    assert trainer.state == "finished", trainer.error
    assert pinned["n"] >= 2 * 200  # inputs and targets of every training batch


def test_a_custom_dataset_and_repl_data_on_the_gpu_train_on_cuda():
    from torch.utils.data import Dataset

    from tui.core.train.config import TrainConfig
    from tui.core.train.data.bundle import DataBundle, bundle_from_tensors
    from tui.core.train.trainer import Trainer

    class Samples(Dataset):
        def __len__(self):
            return 256

        def __getitem__(self, i):
            x = torch.tensor([float(i % 7), float(i % 5)], dtype=torch.float64)
            return x, torch.tensor(i % 2)

    bundle = DataBundle(
        train=Samples(), val=None, task="classification", num_classes=2, input_shape=(2,),
        target_shape=(), description="samples", source="repl",
    )  # fmt: skip
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    trainer = Trainer(model, bundle, TrainConfig(device="cuda", epochs=1, loss="cross_entropy"))
    trainer._run()
    assert trainer.state == "finished", trainer.error

    x = torch.randn(512, 2, device="cuda")
    y = (x[:, 0] > 0).long()
    gpu = bundle_from_tensors(x, y, "classification", "gpu", "repl")
    assert gpu.train.tensors[0].device.type == "cuda"  # not copied to the host and back
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    trainer = Trainer(model, gpu.split(0.2), TrainConfig(device="cuda", epochs=2))
    trainer._run()
    assert trainer.state == "finished", trainer.error


def test_a_label_beyond_the_outputs_is_a_plain_error_and_cuda_lives_on():
    from torch.utils.data import TensorDataset

    from tui.core.train.config import TrainConfig
    from tui.core.train.data.bundle import DataBundle
    from tui.core.train.trainer import Trainer

    x, y = torch.randn(64, 2, device="cuda"), torch.arange(64, device="cuda") % 5
    bundle = DataBundle(
        train=TensorDataset(x, y), val=None, task="classification", num_classes=None,
        input_shape=(2,), target_shape=(), description="5 classes", source="repl",
        classes_exact=False,
    )  # fmt: skip
    trainer = Trainer(nn.Linear(2, 3), bundle, TrainConfig(device="cuda", loss="cross_entropy"))
    trainer._run()
    assert trainer.state == "failed" and "outside 0..2" in trainer.error, trainer.error
    # No device-side assert fired: CUDA still works in this process.
    assert float(torch.ones(3, device="cuda").sum()) == 3.0


def test_headless_train_on_cuda(tmp_path):
    import json
    import subprocess
    import sys

    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "format": 1,
                "input_shape": [2],
                "layers": [
                    {"type": "Linear", "in_features": 2, "out_features": 16},
                    {"type": "ReLU"},
                    {"type": "Linear", "in_features": 16, "out_features": 2},
                ],
            }
        )
    )
    run = tmp_path / "run"
    out = subprocess.run(
        [sys.executable, "-m", "tui", "train", str(spec), "--data", "spirals:n=512",
         "--epochs", "2", "--device", "cuda", "--run-dir", str(run),
         "--workspace", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    config = json.loads((run / "config.json").read_text())["train"]
    assert config["device"] == "cuda" and config["tf32"] is True


def test_a_run_does_not_reset_the_sessions_peak_memory():
    big = torch.empty(256 << 20, dtype=torch.uint8, device="cuda")  # the REPL's work
    del big
    peak = torch.cuda.max_memory_allocated()
    assert peak >= 256 << 20
    trainer = _spirals_run(epochs=1)
    trainer.start()
    assert trainer.join(120) and trainer.state == "finished", trainer.error
    assert torch.cuda.max_memory_allocated() >= peak
    assert trainer.progress.cuda_memory_peak >= peak


def test_fp16_trains_with_a_grad_scaler_whose_state_is_checkpointed(tmp_path):
    trainer = _spirals_run(tmp_path, epochs=2, precision="fp16")
    trainer._run()
    assert trainer.state == "finished", trainer.error
    ckpt = torch.load(trainer.run_dir.path / "checkpoint-last.pt", weights_only=True)
    assert ckpt["grad_scaler"] is not None and ckpt["grad_scaler"]["scale"] > 0
    assert trainer.progress.val_accuracy > 0.5


def test_bf16_on_cuda_finishes():
    trainer = _spirals_run(epochs=2, precision="bf16")
    trainer._run()
    assert trainer.state == "finished", trainer.error


def test_a_dataset_through_dataloader_workers_with_pinned_memory(monkeypatch):
    from torch.utils.data import DataLoader, Dataset

    from tui.core.train.config import TrainConfig
    from tui.core.train.data.bundle import DataBundle
    from tui.core.train.trainer import Trainer

    class Samples(Dataset):
        def __len__(self):
            return 512

        def __getitem__(self, i):
            return torch.tensor([float(i % 7), float(i % 5)]), torch.tensor(i % 2)

    made = {}
    real_init = DataLoader.__init__

    def recording_init(self, *args, **kwargs):
        made.update(kwargs)
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(DataLoader, "__init__", recording_init)
    bundle = DataBundle(
        train=Samples(), val=None, task="classification", num_classes=2, input_shape=(2,),
        target_shape=(), description="samples", source="repl",
    )  # fmt: skip
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    config = TrainConfig(device="cuda", epochs=2, loss="cross_entropy", workers=2)
    trainer = Trainer(model, bundle, config)
    trainer._run()
    assert trainer.state == "finished", trainer.error
    assert made["pin_memory"] is True and made["num_workers"] == 2


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
def test_torchrun_over_two_gpus_with_nccl(tmp_path):
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {"format": 1, "input_shape": [2],
             "layers": [{"type": "Linear", "in_features": 2, "out_features": 64},
                        {"type": "ReLU"},
                        {"type": "Linear", "in_features": 64, "out_features": 2}]}
        )
    )  # fmt: skip
    run = tmp_path / "run"
    repo = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
         "2", "-m", "tui", "train", str(spec), "--data", "spirals", "--epochs", "20",
         "--lr", "0.02", "--batch-size", "32", "--device", "cuda", "--run-dir", str(run)],
        capture_output=True, text=True, timeout=600,
        env={**os.environ, "PYTHONPATH": str(repo)},
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert config["distributed"]["backend"] == "nccl"
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "finished" and status["val_accuracy"] >= 0.9
