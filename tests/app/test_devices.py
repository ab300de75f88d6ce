"""Device choice: a GPU that is present but unusable is passed over, with the reason said."""

from __future__ import annotations

import warnings

import pytest
import torch

from tui.core import devices


@pytest.fixture(autouse=True)
def _fresh_probe():
    devices.probe.cache_clear()
    yield
    devices.probe.cache_clear()


def test_cpu_is_always_usable() -> None:
    assert devices.device_problem("cpu") is None
    assert devices.probe("cpu") is None


def test_bad_names_say_what_is_accepted() -> None:
    assert "not a device name" in (devices.device_problem("gpu0") or "")
    assert "cpu, cuda or mps" in (devices.device_problem("xpu") or "")


def test_a_cuda_that_fails_its_probe_is_not_the_default(monkeypatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    real_ones = torch.ones

    def ones(*args, device=None, **kwargs):
        if device is not None and str(device).startswith("cuda"):
            raise RuntimeError("CUDA error: all CUDA-capable devices are busy or unavailable")
        return real_ones(*args, device=device, **kwargs)

    monkeypatch.setattr(torch, "ones", ones)
    name, skipped = devices.choose_default()
    assert name in ("cpu", "mps")
    assert skipped and "busy or unavailable" in skipped[0] and "unusable" in skipped[0]
    assert "busy" in (devices.device_problem("cuda") or "")


def test_a_driver_warning_becomes_the_reason(monkeypatch) -> None:
    def unavailable() -> bool:
        warnings.warn(
            "CUDA initialization: The NVIDIA driver on your system is too old", stacklevel=1
        )
        return False

    monkeypatch.setattr(torch.cuda, "is_available", unavailable)
    name, skipped = devices.choose_default()
    assert name != "cuda"
    assert any("driver on your system is too old" in s for s in skipped)
    assert "too old" in (devices.device_problem("cuda:0") or "")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_a_real_cuda_passes_its_probe() -> None:
    assert devices.probe("cuda") is None
    assert devices.choose_default() == ("cuda", [])
