"""System metrics: the machine's CPU and memory, the training process's, and each GPU's.

- Machine CPU % and memory, and this process's CPU % and RSS, through ``psutil`` when it
  is installed, else from ``/proc`` (Linux), else left out.
- Per NVIDIA GPU: utilisation, memory used / total, temperature and power through NVML
  (the ``pynvml`` module of ``nvidia-ml-py``). Without the module or without a driver
  there are simply no GPU fields; a query a GPU does not support (power on some boards)
  leaves that one field None. Nothing here raises because a GPU is missing.
- With CUDA initialised in this process, ``torch.cuda``'s allocated, reserved and peak
  memory per device, beside NVML's (NVML counts every process and the CUDA context;
  torch counts its own tensors). torch is never imported here: only a process that has
  already imported it and initialised CUDA gets these fields.

:func:`sample` takes one reading (call it from an existing worker); :class:`SystemSampler`
takes one every 2 s on its own thread, not a daemon (DESIGN.md, Threads), stopped and
joined by :meth:`SystemSampler.stop`. :func:`points` turns a reading into ``system/...``
metric points for ``metrics.jsonl``.
"""

from __future__ import annotations

import math
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tui.core.train.series import MetricPoint

__all__ = [
    "CudaMemory",
    "GpuSample",
    "SystemSample",
    "SystemSampler",
    "metric_names",
    "points",
    "sample",
]

INTERVAL = 2.0
_MB = 1024 * 1024


@dataclass(frozen=True)
class GpuSample:
    """One GPU through NVML; a field is None when the GPU does not report it."""

    index: int
    name: str
    util: float | None = None  # percent
    memory_used_mb: float | None = None
    memory_total_mb: float | None = None
    temperature_c: float | None = None
    power_w: float | None = None


@dataclass(frozen=True)
class CudaMemory:
    """``torch.cuda`` memory of this process on one device, in MB."""

    index: int
    allocated_mb: float
    reserved_mb: float
    peak_mb: float


@dataclass(frozen=True)
class SystemSample:
    """One reading; None where the platform gave nothing."""

    time: float
    cpu_percent: float | None = None
    memory_percent: float | None = None
    memory_used_mb: float | None = None
    memory_total_mb: float | None = None
    process_cpu_percent: float | None = None
    process_rss_mb: float | None = None
    gpus: tuple[GpuSample, ...] = ()
    cuda: tuple[CudaMemory, ...] = field(default=())


# ---------------------------------------------------------------------------------------
# CPU and memory


class _Cpu:
    """CPU readings need two points in time: this keeps the previous one."""

    def __init__(self) -> None:
        try:
            import psutil
        except ImportError:
            psutil = None
        self.psutil: Any = psutil
        self.proc: Any = None
        if psutil is not None:
            try:
                self.proc = psutil.Process()
                psutil.cpu_percent(None)  # the first call only starts the interval
                self.proc.cpu_percent(None)
            except Exception:  # psutil without support for this platform
                self.psutil = self.proc = None
        self._stat = _proc_stat()
        self._times = (time.monotonic(), _process_cpu_seconds())

    def read(self) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        if self.psutil is not None:
            try:
                vm = self.psutil.virtual_memory()
                out.update(
                    cpu_percent=float(self.psutil.cpu_percent(None)),
                    memory_percent=float(vm.percent),
                    memory_used_mb=(vm.total - vm.available) / _MB,
                    memory_total_mb=vm.total / _MB,
                    process_cpu_percent=float(self.proc.cpu_percent(None)),
                    process_rss_mb=self.proc.memory_info().rss / _MB,
                )
                return out
            except Exception:  # a transient psutil failure: fall back to /proc
                out = {}
        stat = _proc_stat()
        if stat is not None and self._stat is not None:
            busy, total = stat[0] - self._stat[0], stat[1] - self._stat[1]
            out["cpu_percent"] = 100.0 * busy / total if total > 0 else 0.0
        self._stat = stat
        mem = _proc_meminfo()
        if mem is not None:
            total_kb, avail_kb = mem
            out["memory_total_mb"] = total_kb / 1024
            out["memory_used_mb"] = (total_kb - avail_kb) / 1024
            out["memory_percent"] = 100.0 * (total_kb - avail_kb) / total_kb if total_kb else None
        now, cpu_s = time.monotonic(), _process_cpu_seconds()
        dt = now - self._times[0]
        if dt > 0:
            out["process_cpu_percent"] = 100.0 * (cpu_s - self._times[1]) / dt
        self._times = (now, cpu_s)
        rss = _proc_rss_mb()
        if rss is not None:
            out["process_rss_mb"] = rss
        return out


def _proc_stat() -> tuple[int, int] | None:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    try:
        with open("/proc/stat", encoding="ascii") as fh:
            fields = fh.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    vals = [int(v) for v in fields[1:]]
    idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
    total = sum(vals[:8])  # guest time is already inside user time
    return total - idle, total


def _proc_meminfo() -> tuple[int, int] | None:
    """(MemTotal, MemAvailable) in kB from /proc/meminfo."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            info = dict(line.split(":", 1) for line in fh if ":" in line)
        return int(info["MemTotal"].split()[0]), int(info["MemAvailable"].split()[0])
    except (OSError, KeyError, ValueError, IndexError):
        return None


def _proc_rss_mb() -> float | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            pages = int(fh.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / _MB
    except (OSError, ValueError, IndexError):
        return None


def _process_cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


# ---------------------------------------------------------------------------------------
# GPUs


class _Nvml:
    """NVML if it can be initialised, else nothing (no module, no driver)."""

    def __init__(self) -> None:
        self.nv: Any = None
        self.handles: list[Any] = []
        try:
            import pynvml

            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self.handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self.nv = pynvml
        except Exception:  # ImportError, NVMLError (no driver/library), anything else
            self.nv, self.handles = None, []

    def read(self) -> tuple[GpuSample, ...]:
        if self.nv is None:
            return ()
        nv = self.nv
        out = []
        for i, h in enumerate(self.handles):
            name = _try(lambda h=h: nv.nvmlDeviceGetName(h))
            if isinstance(name, bytes):
                name = name.decode(errors="replace")
            util = _try(lambda h=h: nv.nvmlDeviceGetUtilizationRates(h).gpu)
            mem = _try(lambda h=h: nv.nvmlDeviceGetMemoryInfo(h))
            temp = _try(lambda h=h: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
            power = _try(lambda h=h: nv.nvmlDeviceGetPowerUsage(h))  # milliwatts
            out.append(
                GpuSample(
                    index=i,
                    name=str(name) if name is not None else f"GPU {i}",
                    util=_num(util),
                    memory_used_mb=_num(getattr(mem, "used", None), _MB),
                    memory_total_mb=_num(getattr(mem, "total", None), _MB),
                    temperature_c=_num(temp),
                    power_w=_num(power, 1000),
                )
            )
        return tuple(out)

    def close(self) -> None:
        if self.nv is not None:
            _try(self.nv.nvmlShutdown)
            self.nv = None


def _try(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception:  # NVMLError_NotSupported and friends: that field is unknown
        return None


def _num(value: Any, divisor: float = 1.0) -> float | None:
    try:
        v = float(value) / divisor
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _cuda_memory() -> tuple[CudaMemory, ...]:
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    try:
        if cuda is None or not cuda.is_available() or not cuda.is_initialized():
            return ()
        return tuple(
            CudaMemory(
                index=i,
                allocated_mb=cuda.memory_allocated(i) / _MB,
                reserved_mb=cuda.memory_reserved(i) / _MB,
                peak_mb=cuda.max_memory_allocated(i) / _MB,
            )
            for i in range(cuda.device_count())
        )
    except Exception:  # a CUDA error while training is the trainer's to report
        return ()


# ---------------------------------------------------------------------------------------
# sampling


class Sampler:
    """Keeps the state between readings (CPU deltas, the NVML session)."""

    def __init__(self) -> None:
        self._cpu = _Cpu()
        self._nvml = _Nvml()

    def sample(self) -> SystemSample:
        return SystemSample(
            time=time.time(), gpus=self._nvml.read(), cuda=_cuda_memory(), **self._cpu.read()
        )

    def close(self) -> None:
        self._nvml.close()


_default: Sampler | None = None
_default_lock = threading.Lock()


def sample() -> SystemSample:
    """One reading now (CPU percentages cover the time since the previous call)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Sampler()
        return _default.sample()


class SystemSampler:
    """Samples every ``interval`` seconds on its own (non-daemon) thread.

    ``latest`` is the last reading (None before the first); ``on_sample`` is called with
    each, on the sampler's thread. Use as a context manager, or ``start()`` and
    ``stop()`` (which joins the thread: call it before the interpreter exits).
    """

    def __init__(
        self,
        interval: float = INTERVAL,
        on_sample: Callable[[SystemSample], None] | None = None,
    ) -> None:
        self.interval = interval
        self.on_sample = on_sample
        self.latest: SystemSample | None = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> SystemSampler:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="dltui-system-sampler")
            self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> SystemSampler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _loop(self) -> None:
        sampler = Sampler()
        try:
            while True:
                try:
                    s = sampler.sample()
                    self.latest = s
                    if self.on_sample is not None:
                        self.on_sample(s)
                except Exception as exc:  # keep sampling: one bad reading is not fatal
                    self.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
                if self._stop.wait(self.interval):
                    return
        finally:
            sampler.close()


def _fields(s: SystemSample) -> list[tuple[str, float | None]]:
    out: list[tuple[str, float | None]] = [
        ("system/cpu_percent", s.cpu_percent),
        ("system/memory_percent", s.memory_percent),
        ("system/memory_used_mb", s.memory_used_mb),
        ("system/process_cpu_percent", s.process_cpu_percent),
        ("system/process_rss_mb", s.process_rss_mb),
    ]
    for g in s.gpus:
        p = f"system/gpu{g.index}/"
        out += [
            (p + "util", g.util),
            (p + "memory_used_mb", g.memory_used_mb),
            (p + "memory_total_mb", g.memory_total_mb),
            (p + "temperature_c", g.temperature_c),
            (p + "power_w", g.power_w),
        ]
    for c in s.cuda:
        p = f"system/gpu{c.index}/"
        out += [
            (p + "torch_allocated_mb", c.allocated_mb),
            (p + "torch_reserved_mb", c.reserved_mb),
            (p + "torch_peak_mb", c.peak_mb),
        ]
    return out


def metric_names(s: SystemSample) -> list[str]:
    """The ``system/...`` names :func:`points` gives for this reading."""
    return [name for name, v in _fields(s) if v is not None]


def points(s: SystemSample, step: int, epoch: int) -> list[MetricPoint]:
    """The reading as ``system/...`` metric points (fields that are None left out)."""
    return [
        MetricPoint(step, epoch, s.time, name, float(v)) for name, v in _fields(s) if v is not None
    ]
