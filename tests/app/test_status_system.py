"""The status line's system figures: the session's GPU first, its own torch memory (not
the current device's), nothing about GPUs where NVML has none."""

from __future__ import annotations

from tui.core.train.system import CudaMemory, GpuSample, SystemSample
from widgets.common.status_line import cuda_memory_of, system_text


def test_system_text_without_gpus() -> None:
    s = SystemSample(time=0.0, cpu_percent=12.4, process_rss_mb=410.25)
    # Shown in coarse steps (5 %, 16 MiB), so idle jitter does not repaint the line.
    assert system_text(s, "cpu") == "CPU 10% RSS 416.0 MiB"
    jitter = SystemSample(time=0.0, cpu_percent=11.1, process_rss_mb=411.9)
    assert system_text(jitter, "cpu") == system_text(s, "cpu")
    assert system_text(SystemSample(time=0.0)) == ""
    assert cuda_memory_of(s, "cuda:1") is None


def test_the_session_device_comes_first_and_owns_the_cuda_figures() -> None:
    gpus = (
        GpuSample(0, "A", util=90.0, memory_used_mb=1024.0, memory_total_mb=81920.0),
        GpuSample(1, "B", util=None, memory_used_mb=2048.0, memory_total_mb=81920.0),
    )
    cuda = (CudaMemory(0, 1.0, 2.0, 3.0), CudaMemory(1, 512.0, 1024.0, 600.0))
    s = SystemSample(time=0.0, cpu_percent=5.0, gpus=gpus, cuda=cuda)
    assert system_text(s, "cuda:1") == "CPU 5% │ GPU1 ? 2.0/80.0G │ GPU0 90% 1.0/80.0G"
    assert system_text(s, "cpu").endswith("GPU0 90% 1.0/80.0G │ GPU1 ? 2.0/80.0G")
    assert cuda_memory_of(s, "cuda:1") == {"allocated": 512 << 20, "reserved": 1024 << 20}
    assert cuda_memory_of(s, "cuda") == {"allocated": 1 << 20, "reserved": 2 << 20}
    assert cuda_memory_of(s, "cpu") is None
