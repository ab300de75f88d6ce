"""The device rules of the trainer, shown on the CPU (the CUDA-only halves are in
tests/app/test_cuda.py).

- no float64 tensor is made during a run with float32 data (MPS has no float64);
- float64 samples train (made float32, as the batches are) on every data path;
- an error placing the model at run start is one line, nothing written;
- checkpoints hold CPU tensors only and load with ``weights_only=True``;
- a run that ended holds no optimizer state or data copies;
- class labels and token ids out of range are refused before the first step;
- TF32 / cuDNN benchmark are set for a CUDA run and given back afterwards.
"""

from __future__ import annotations

import gc
import json
import weakref
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.data import Dataset, TensorDataset

from tui.core.train.config import TrainConfig
from tui.core.train.data import load_data
from tui.core.train.data.bundle import DataBundle, bundle_from_tensors
from tui.core.train.precision import cuda_math
from tui.core.train.prepare import prepare_run
from tui.core.train.runs import RunDir, cpu_copy
from tui.core.train.settings import PrepareError, RunSettings
from tui.core.train.trainer import Trainer

TIMEOUT = 120


class Float64Watch(TorchDispatchMode):
    """Records every op that returns a float64 tensor."""

    def __init__(self) -> None:
        super().__init__()
        self.ops: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        outs = out if isinstance(out, (tuple, list)) else [out]
        if any(isinstance(o, torch.Tensor) and o.dtype == torch.float64 for o in outs):
            self.ops.append(str(func))
        return out


def mlp(inp: int = 2, out: int = 2) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(inp, 16), nn.ReLU(), nn.Linear(16, out))


def run_here(trainer: Trainer) -> Trainer:
    """Run the loop in this thread (dispatch modes are per thread)."""
    trainer._run()
    return trainer


@pytest.mark.parametrize(
    "data, loss, out", [("spirals:n=200", "cross_entropy", 2), ("sine:n=200", "mse", 1)]
)
def test_a_run_with_validation_makes_no_float64_tensor(tmp_path: Path, data, loss, out):
    bundle = load_data(data).split(0.25, seed=0)
    assert bundle.train.dataset.tensors[0].dtype == torch.float32
    config = TrainConfig(loss=loss, epochs=2, batch_size=16)
    trainer = Trainer(mlp(1 if data.startswith("sine") else 2, out), bundle, config)
    with Float64Watch() as watch:
        run_here(trainer)
    assert trainer.state == "finished", trainer.error
    # The validation accumulators and the loss read-back were float64 tensors: MPS fails.
    assert watch.ops == []
    assert trainer.progress.val_loss is not None and trainer.progress.val_loss > 0


class Float64Samples(Dataset):
    """A REPL-style Dataset of float64 samples (NumPy's default dtype)."""

    def __init__(self, n: int = 64) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 3, generator=g, dtype=torch.float64)
        self.y = self.x.sum(1, keepdim=True)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int):
        return self.x[i], self.y[i]


def test_float64_samples_train_on_the_sample_path_and_the_tensor_path():
    for ds in (Float64Samples(), TensorDataset(Float64Samples().x, Float64Samples().y)):
        bundle = DataBundle(
            train=ds, val=None, task="regression", num_classes=None, input_shape=(3,),
            target_shape=(1,), description="float64", source="repl",
        )  # fmt: skip
        trainer = Trainer(mlp(3, 1), bundle, TrainConfig(loss="mse", epochs=2, batch_size=16))
        run_here(trainer)
        assert trainer.state == "finished", trainer.error


def _settings(tmp_path: Path, model: str = "net") -> RunSettings:
    return RunSettings(model=model, data="spirals:n=64", config=TrainConfig(epochs=1))


class Unplaceable(nn.Sequential):
    """A module whose move to the device fails as a busy or unsupported GPU does."""

    def to(self, *args, **kwargs):
        raise RuntimeError("CUDA error: no kernel image is available for execution on the device")


def test_an_error_placing_the_model_is_one_line_and_writes_nothing(tmp_path: Path):
    net = Unplaceable(nn.Linear(2, 2))
    with pytest.raises(PrepareError) as info:
        prepare_run(_settings(tmp_path), workspace=tmp_path, namespace={"net": net})
    text = info.value.text()
    assert "no kernel image" in text and "--device cpu" in text
    assert "\n" not in text and info.value.setting == "device"
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_out_of_memory_placing_the_model_says_what_to_do(tmp_path: Path):
    class Hog(nn.Sequential):
        def to(self, *args, **kwargs):
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 80 GiB")

    with pytest.raises(PrepareError) as info:
        prepare_run(
            _settings(tmp_path), workspace=tmp_path, namespace={"net": Hog(nn.Linear(2, 2))}
        )
    assert "ran out of memory" in info.value.text() and "smaller model" in info.value.text()


def test_checkpoints_hold_cpu_tensors_only_and_load_with_weights_only(tmp_path: Path):
    state = {"a": torch.ones(2), "n": [torch.zeros(1), (torch.ones(1), 3)], "k": "x"}
    copy = cpu_copy(state)
    assert copy["k"] == "x" and copy["n"][1][1] == 3 and isinstance(copy["n"][1], tuple)
    sd = nn.BatchNorm1d(3).state_dict()
    assert cpu_copy(sd)._metadata == sd._metadata  # module versions kept for loading

    bundle = load_data("spirals:n=128").split(0.25, seed=0)
    run_dir = RunDir.create(tmp_path, label="ckpt")
    trainer = Trainer(mlp(), bundle, TrainConfig(epochs=2, batch_size=16), run_dir)
    run_here(trainer)
    assert trainer.state == "finished", trainer.error
    for kind in ("last", "best"):
        payload = torch.load(run_dir.path / f"checkpoint-{kind}.pt", weights_only=True)
        tensors = []

        def walk(obj, tensors=tensors):
            if isinstance(obj, torch.Tensor):
                tensors.append(obj)
            elif isinstance(obj, dict):
                for v in obj.values():
                    walk(v)
            elif isinstance(obj, (list, tuple)):
                for v in obj:
                    walk(v)

        walk(payload)
        assert tensors and all(t.device.type == "cpu" for t in tensors)


def test_a_run_that_ended_holds_no_optimizer_state_or_data_copies():
    bundle = load_data("spirals:n=128").split(0.25, seed=0)
    trainer = Trainer(mlp(), bundle, TrainConfig(epochs=1, batch_size=16))
    trainer.pause()  # held after one step, so the optimizer's state can be looked at
    trainer.step_once()
    trainer.start()
    assert trainer.wait_for(lambda t: t.progress.step == 1 and t.state == "paused", TIMEOUT)
    moment = weakref.ref(next(iter(trainer.optimizer.state.values()))["exp_avg"])
    trainer.resume()
    assert trainer.join(TIMEOUT) and trainer.state == "finished", trainer.error
    gc.collect()
    assert moment() is None  # Adam's state went with the optimizer
    assert trainer.optimizer is None and trainer._train_batches is None
    assert trainer.released_bytes == 0  # nothing cached on the CPU
    # The trained model stays, ready for predictions.
    assert trainer.model(torch.zeros(1, 2)).shape == (1, 2)


def test_class_labels_out_of_range_in_tensor_data_are_refused_before_the_first_step():
    x = torch.randn(100, 2)
    y = torch.arange(100) % 12  # 12 classes; the model has 10 outputs
    # A Dataset handed over as it is, its class count unknown (a REPL TensorDataset).
    bundle = DataBundle(
        train=TensorDataset(x, y), val=None, task="classification", num_classes=None,
        input_shape=(2,), target_shape=(), description="twelve", source="repl",
        classes_exact=False,
    )  # fmt: skip
    net = nn.Sequential(nn.Linear(2, 10))
    seen: list[int] = []
    net.register_forward_hook(lambda m, a, o: seen.append(1) if m.training else None)
    trainer = Trainer(net, bundle, TrainConfig(loss="cross_entropy", epochs=1))
    run_here(trainer)
    assert trainer.state == "failed" and trainer.progress.step == 0
    text = trainer.error
    assert "outside 0..9" in text and "at least 12" in text and "e.g. 11" in text, text
    assert seen == []  # no training step ran


class LateBadLabel(Dataset):
    """Labels in range for the samples a fit check reads, one out of range at 70."""

    def __len__(self) -> int:
        return 80

    def __getitem__(self, i: int):
        return torch.full((2,), float(i)), torch.tensor(9 if i == 70 else i % 3)


def test_a_bad_label_read_sample_by_sample_fails_before_its_step():
    bundle = DataBundle(
        train=LateBadLabel(), val=None, task="classification", num_classes=3,
        input_shape=(2,), target_shape=(), description="late", source="repl",
    )  # fmt: skip
    seen: list[int] = []
    net = mlp(2, 3)
    net.register_forward_hook(lambda m, a, o: seen.append(a[0].shape[0]))
    trainer = Trainer(net, bundle, TrainConfig(loss="cross_entropy", epochs=1, batch_size=80))
    run_here(trainer)
    assert trainer.state == "failed"
    assert "class label outside 0..2" in trainer.error and "9" in trainer.error, trainer.error
    assert 80 not in seen  # the bad batch never reached the model


def test_token_ids_beyond_the_embedding_are_refused():
    ids = torch.randint(0, 50, (64, 5))
    ids[7, 2] = 120
    bundle = bundle_from_tensors(ids, torch.arange(64) % 2, "classification", "ids", "repl")
    net = nn.Sequential(nn.Embedding(100, 4), nn.Flatten(), nn.Linear(20, 2))
    trainer = Trainer(net, bundle, TrainConfig(loss="cross_entropy", epochs=1))
    run_here(trainer)
    assert trainer.state == "failed"
    assert "token id 120" in trainer.error and "100 entries" in trainer.error, trainer.error
    assert "num_embeddings to at least 121" in trainer.error


def test_cuda_math_sets_tf32_and_benchmark_for_the_run_then_restores():
    before = (torch.get_float32_matmul_precision(), torch.backends.cudnn.benchmark)
    # Only the flags are touched (no CUDA work), so this runs on a CPU build too.
    with cuda_math(torch.device("cuda"), tf32=True, benchmark=True):
        assert torch.get_float32_matmul_precision() == "high"
        assert torch.backends.cudnn.benchmark is True
    assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.benchmark) == before
    with cuda_math(torch.device("cuda"), tf32=False, benchmark=False):
        assert torch.get_float32_matmul_precision() == "highest"
        assert torch.backends.cudnn.benchmark is False
    with cuda_math(torch.device("cpu"), tf32=True, benchmark=True):
        assert (torch.get_float32_matmul_precision(), torch.backends.cudnn.benchmark) == before


def test_tf32_and_benchmark_are_recorded_in_config_json_and_switchable(tmp_path: Path):
    from tui.cli import main

    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "format": 1,
                "input_shape": [2],
                "layers": [{"type": "Linear", "in_features": 2, "out_features": 2}],
            }
        )
    )
    args = ["train", str(spec), "--data", "spirals:n=64", "--epochs", "1", "--device", "cpu"]
    for extra, want in (([], True), (["--no-tf32", "--no-cudnn-benchmark"], False)):
        run = tmp_path / f"run-{want}"
        rc = main([*args, "--run-dir", str(run), "--workspace", str(tmp_path), *extra])
        assert rc == 0
        train = json.loads((run / "config.json").read_text())["train"]
        assert train["tf32"] is want and train["cudnn_benchmark"] is want
