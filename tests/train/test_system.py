"""System metrics: psutil or /proc, NVML absent, present, or failing, torch.cuda memory."""

from __future__ import annotations

import os
import sys
import types

import pytest

from tui.core.train import system
from tui.core.train.system import GpuSample, Sampler, SystemSample, SystemSampler, points


def test_sample_has_cpu_and_memory():
    s = Sampler()
    s.sample()
    r = s.sample()
    assert 0.0 <= r.memory_percent <= 100.0 and r.process_rss_mb > 1
    assert r.cpu_percent is not None
    names = {p.name for p in points(r, 3, 1)}
    assert {"system/cpu_percent", "system/memory_percent", "system/process_rss_mb"} <= names
    assert all(p.step == 3 and p.epoch == 1 for p in points(r, 3, 1))


def test_proc_fallback_without_psutil(monkeypatch):
    monkeypatch.setitem(sys.modules, "psutil", None)
    s = Sampler()
    r = s.sample()
    if sys.platform.startswith("linux"):
        assert r.memory_total_mb > 0 and r.process_rss_mb > 1 and r.cpu_percent is not None


def test_nvml_absent_gives_no_gpu_fields(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import fails
    r = Sampler().sample()
    assert r.gpus == ()
    assert not any("gpu" in p.name and "torch" not in p.name for p in points(r, 1, 1))


def _fake_nvml(fail_init: bool = False) -> types.ModuleType:
    nv = types.ModuleType("pynvml")

    class NVMLError(Exception):
        pass

    def init():
        if fail_init:
            raise NVMLError("Driver Not Loaded")

    def not_supported(*a):
        raise NVMLError("Not Supported")

    nv.NVMLError = NVMLError
    nv.NVML_TEMPERATURE_GPU = 0
    nv.nvmlInit = init
    nv.nvmlShutdown = lambda: None
    nv.nvmlDeviceGetCount = lambda: 2
    nv.nvmlDeviceGetHandleByIndex = lambda i: i
    nv.nvmlDeviceGetName = lambda h: b"Fake GPU"
    nv.nvmlDeviceGetUtilizationRates = lambda h: types.SimpleNamespace(gpu=40 + h)
    nv.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(used=2 << 30, total=8 << 30)
    nv.nvmlDeviceGetTemperature = not_supported
    nv.nvmlDeviceGetPowerUsage = lambda h: 150_000 if h == 0 else not_supported()
    return nv


def test_nvml_present_but_erroring(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml())
    r = Sampler().sample()
    assert [g.util for g in r.gpus] == [40.0, 41.0]
    g0, g1 = r.gpus
    assert g0.name == "Fake GPU" and g0.memory_used_mb == 2048 and g0.memory_total_mb == 8192
    assert g0.temperature_c is None and g0.power_w == 150.0 and g1.power_w is None
    names = {p.name: p.value for p in points(r, 1, 1)}
    assert names["system/gpu0/util"] == 40 and names["system/gpu0/power_w"] == 150
    assert "system/gpu0/temperature_c" not in names and "system/gpu1/power_w" not in names


def test_nvml_init_failure_is_silent(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(fail_init=True))
    assert Sampler().sample().gpus == ()


def test_sampler_thread_stops_and_joins():
    seen: list[SystemSample] = []
    sampler = SystemSampler(interval=0.05, on_sample=seen.append).start()
    import time

    end = time.monotonic() + 30
    while len(seen) < 2 and time.monotonic() < end:
        time.sleep(0.01)
    thread = sampler._thread
    sampler.stop()
    assert len(seen) >= 2 and sampler.latest is not None
    assert thread is not None and not thread.is_alive() and not thread.daemon


def test_points_names_for_gpu_and_cuda():
    s = SystemSample(
        time=1.0,
        cpu_percent=5.0,
        gpus=(GpuSample(0, "g", util=1.0, memory_used_mb=2.0, memory_total_mb=3.0),),
        cuda=(system.CudaMemory(0, 1.0, 2.0, 3.0),),
    )
    assert system.metric_names(s) == [
        "system/cpu_percent",
        "system/gpu0/util",
        "system/gpu0/memory_used_mb",
        "system/gpu0/memory_total_mb",
        "system/gpu0/torch_allocated_mb",
        "system/gpu0/torch_reserved_mb",
        "system/gpu0/torch_peak_mb",
    ]


def test_cuda_memory_of_this_process():
    if not os.path.exists("/proc/driver/nvidia") and "torch" not in sys.modules:
        pytest.skip("needs CUDA (no NVIDIA driver: not worth importing torch to learn that)")
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("needs CUDA")
    x = torch.ones(1024, 1024, device="cuda")
    r = Sampler().sample()
    assert r.cuda and r.cuda[0].allocated_mb >= 4.0 and r.cuda[0].peak_mb >= 4.0
    assert r.gpus and r.gpus[0].memory_total_mb > 0  # NVML beside it
    del x


def test_a_run_records_system_metrics_in_its_metrics_file(tmp_path, monkeypatch):
    import json

    from torch import nn

    import tui.core.train.trainer as trainer_module
    from tui.core.train.config import TrainConfig
    from tui.core.train.data import load_data
    from tui.core.train.runs import RunDir
    from tui.core.train.trainer import Trainer

    monkeypatch.setattr(trainer_module, "SYSTEM_EVERY", 0.0)  # a reading at every read-back
    run_dir = RunDir.create(tmp_path, label="sys")
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    bundle = load_data("spirals:n=200").split(0.2, seed=0)
    trainer = Trainer(model, bundle, TrainConfig(epochs=3, batch_size=16), run_dir)
    trainer._run()
    assert trainer.state == "finished", trainer.error
    points = [json.loads(line) for line in (run_dir.path / "metrics.jsonl").open()]
    rss = [p for p in points if p["name"] == "system/process_rss_mb"]
    assert len(rss) >= 3 and all(p["value"] > 0 for p in rss)
    steps = [p["step"] for p in rss]
    assert steps == sorted(steps)
    # Without a run directory nothing is sampled (the figures are for the record).
    trainer = Trainer(model, bundle, TrainConfig(epochs=1, batch_size=16))
    trainer._run()
    assert not [p for p in trainer.buffer.drain() if p.name.startswith("system/")]
