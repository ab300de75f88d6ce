"""The monitor's system strip: the machine, this process, each GPU and torch's memory in a
few short lines; nothing about GPUs without NVML; shown live in the monitor."""

from __future__ import annotations

from conftest import wait_until

from tui.core.train.system import CudaMemory, GpuSample, SystemSample
from widgets.monitor.pane import MonitorPane
from widgets.monitor.system_strip import SystemStrip, strip_lines


def test_lines_without_a_gpu() -> None:
    s = SystemSample(
        time=0.0, cpu_percent=47.6, memory_used_mb=12390.0, memory_total_mb=24064.0,
        process_cpu_percent=96.0, process_rss_mb=351.0,
    )  # fmt: skip
    assert strip_lines(s, "cpu") == ["CPU 50%  RAM 12.1/23.5G", "dltui CPU 95% RSS 352M"]
    assert strip_lines(SystemSample(time=0.0)) == []
    assert all(len(line) <= 26 for line in strip_lines(s))  # the form's column at 80x24


def test_gpus_session_device_first_and_torch_memory() -> None:
    gpus = (
        GpuSample(0, "H200", util=44.0, memory_used_mb=10445.0, memory_total_mb=143771.0,
                  temperature_c=61.2, power_w=212.0),
        GpuSample(1, "H200", util=None, memory_used_mb=0.0, memory_total_mb=143771.0),
    )  # fmt: skip
    cuda = (CudaMemory(1, allocated_mb=1228.8, reserved_mb=2048.0, peak_mb=3174.4),)
    lines = strip_lines(SystemSample(time=0.0, gpus=gpus, cuda=cuda), "cuda:1")
    assert all(len(line) <= 26 for line in lines)
    assert lines == [
        "GPU1 ?% 0.0/140G",
        "GPU0 45% 10/140G 61° 210W",
        "torch 1.2/2.0G peak 3.1G",
    ]


async def test_the_monitor_shows_the_machine(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("f4")
        await wait_until(pilot, lambda: app.query(MonitorPane), "the monitor")
        strip = app.query_one(SystemStrip)
        # The app's sampler thread reads every 2 s; the strip shows its next sample.
        await wait_until(pilot, lambda: "RSS" in str(strip.content), "the system figures")
        text = str(strip.content)
        assert "CPU" in text and "RAM" in text
        assert "GPU" not in text or app.system.sample.gpus  # NVML absent: no GPU line
