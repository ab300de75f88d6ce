"""Engine tests of tui.core.repl.inspect: inspector rows, memory totals, statistics, the cache."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from torch import nn

from tui.core.repl import inspect as summary
from tui.core.repl.inspect import (
    HIST_BINS,
    StatsCache,
    VarInfo,
    describe,
    describe_namespace,
    memory_by_device,
    tensor_stats,
)
from tui.core.text import human_bytes


def test_human_bytes() -> None:
    assert human_bytes(0) == "0 B"
    assert human_bytes(1023) == "1023 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(3 * 1024**2) == "3.0 MiB"
    assert human_bytes(5 * 1024**5) == "5120.0 TiB"


def test_rows_for_tensors_parameters_arrays_and_modules() -> None:
    x = torch.ones(2, 3, requires_grad=True)
    ns = {
        "t": torch.arange(6, dtype=torch.int64).reshape(2, 3),
        "x": x,
        "y": x * 2,
        "p": nn.Parameter(torch.zeros(4)),
        "arr": np.ones((5,), dtype=np.float32),
        "model": nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1)),
        "n": 3,  # not shown
        "s": "text",  # not shown
    }
    rows = {r.name: r for r in describe_namespace(ns, list(ns))}
    assert list(rows) == ["t", "x", "y", "p", "arr", "model"]
    assert rows["t"] == VarInfo(
        "t", "tensor", (2, 3), "int64", "cpu", "", 6, 48, rows["t"].storages
    )
    assert rows["t"].shape_text == "(2, 3)"
    assert rows["x"].grad == "requires_grad"
    assert rows["y"].grad == "grad_fn=MulBackward0"
    assert (rows["p"].kind, rows["p"].grad, rows["p"].nbytes) == ("parameter", "requires_grad", 16)
    assert (rows["arr"].kind, rows["arr"].dtype, rows["arr"].device) == (
        "ndarray",
        "np.float32",
        "numpy",
    )
    model = rows["model"]
    params = 3 * 4 + 4 + 4 * 1 + 1
    assert (model.kind, model.shape, model.shape_text) == ("module", None, "")
    assert (model.numel, model.nbytes, model.grad) == (params, params * 4, f"{params} trainable")
    assert (model.dtype, model.device) == ("float32", "cpu")
    assert describe("relu", nn.ReLU()).grad == ""  # no parameters


def test_a_tensor_that_refuses_shape_still_gets_a_row() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "nested tensors are in prototype stage"
        nested = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)])
    with pytest.raises(RuntimeError):
        describe("nt", nested)  # even .shape raises
    rows = describe_namespace({"nt": nested, "t": torch.ones(2)}, ["nt", "t"])
    assert [r.name for r in rows] == ["nt", "t"]
    assert (rows[0].shape, rows[0].dtype, rows[0].device) == (None, "float32", "cpu")
    assert memory_by_device(rows) == {"cpu": 8}


def test_memory_totals_count_each_storage_once() -> None:
    a = torch.ones(1000)  # 4000 bytes
    model = nn.Linear(10, 10)  # 440 bytes of parameters
    arr = np.ones(10)  # 80 bytes
    ns = {
        "a": a,
        "alias": a,
        "view": a.view(10, 100),
        "row": a[:10],
        "model": model,
        "w": model.weight,
        "arr": arr,
        "arr_view": arr[::2],
        "meta": torch.empty(1000, device="meta"),  # holds no memory
    }
    rows = describe_namespace(ns, list(ns))
    assert memory_by_device(rows) == {"cpu": 4000 + 440, "numpy": 80}
    assert memory_by_device(describe_namespace({"b": torch.ones(3)}, ["b"])) == {"cpu": 12}
    assert memory_by_device([]) == {}


def test_stats_of_a_float_tensor() -> None:
    t = torch.tensor([[0.0, 1.0, float("nan")], [float("inf"), -2.0, 4.0]])
    stats = tensor_stats("t", t)
    lines = dict(stats.lines)
    finite = torch.tensor([0.0, 1.0, -2.0, 4.0])
    assert lines["stride"] == str(t.stride())
    assert lines["contiguous"] == "True"
    assert lines["min"] == f"{finite.min().item():.6g}"
    assert lines["max"] == f"{finite.max().item():.6g}"
    assert lines["mean"] == f"{finite.mean().item():.6g}"
    assert lines["std"] == f"{finite.std().item():.6g}"
    assert (lines["NaN"], lines["Inf"], lines["zeros"]) == ("1", "1", "1")
    assert len(stats.hist_counts) == HIST_BINS and sum(stats.hist_counts) == 4
    assert len(stats.hist_edges) == HIST_BINS + 1
    assert stats.hist_edges[0] == -2.0 and stats.hist_edges[-1] == pytest.approx(4.0)
    assert "nan" in stats.preview and "inf" in stats.preview


def test_stats_of_a_transposed_integer_tensor() -> None:
    t = torch.arange(6).reshape(2, 3).T
    lines = dict(tensor_stats("t", t).lines)
    assert lines["stride"] == "(1, 3)"
    assert lines["contiguous"] == "False"
    assert (lines["min"], lines["max"], lines["zeros"]) == ("0", "5", "1")


def test_stats_of_special_tensors() -> None:
    assert dict(tensor_stats("e", torch.empty(0)).lines)["values"] == "empty"
    meta = dict(tensor_stats("m", torch.empty(3, device="meta")).lines)
    assert meta["values"].startswith("none")
    flags = tensor_stats("b", torch.tensor([True, False, True]))
    assert dict(flags.lines)["true"] == "2" and dict(flags.lines)["false"] == "1"
    assert flags.preview == "[ True, False,  True]"
    const = tensor_stats("c", torch.full((4,), 7.0))
    assert dict(const.lines)["std"] == "0" and const.hist_counts == []  # max == min
    z = torch.tensor([3 + 4j, -1j])
    complex_stats = tensor_stats("z", z)
    assert dict(complex_stats.lines)["max"] == "5"  # of the magnitude...
    assert "3.+4.j" in complex_stats.preview  # ...but the preview shows the values
    half = tensor_stats("h", torch.ones(3, dtype=torch.bfloat16))
    assert half.preview == "[1., 1., 1.]"
    arr = tensor_stats("a", np.arange(4.0))
    assert dict(arr.lines)["max"] == "3"


def test_preview_is_summarised() -> None:
    stats = tensor_stats("t", torch.arange(10_000).reshape(100, 100))
    assert "..." in stats.preview
    assert stats.preview.count("\n") <= 12


def test_stats_leave_torch_print_options_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # The preview runs in a worker while user code may print in the REPL thread: it must
    # not touch torch's process-wide print options (set_printoptions also reset sci_mode).
    torch.set_printoptions(sci_mode=False)
    try:
        before = vars(torch._tensor_str.PRINT_OPTS).copy()

        def forbidden(*args: object, **kwargs: object) -> None:
            raise AssertionError("tensor_stats changed torch's global print options")

        monkeypatch.setattr(torch, "set_printoptions", forbidden)
        tensor_stats("t", torch.arange(1000.0))
        assert vars(torch._tensor_str.PRINT_OPTS) == before
    finally:
        monkeypatch.undo()
        torch.set_printoptions(profile="default")
        torch.set_printoptions(sci_mode=None)


def test_module_stats_list_submodules() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.BatchNorm1d(4))
    model.eval()
    stats = tensor_stats("model", model)
    lines = dict(stats.lines)
    assert lines["type"] == "Sequential"
    assert lines["params"] == str(3 * 4 + 4 + 4 + 4)
    assert lines["trainable"] == lines["params"]
    assert lines["buffers"] == str(4 + 4 + 1)  # running mean, var, num_batches_tracked
    assert lines["mode"] == "eval"
    counts = [16, 0, 8]
    assert stats.submodules == [
        f"({i}) {child!r}  [{n} params]"
        for (i, child), n in zip(enumerate(model), counts, strict=True)
    ]


def test_cache_reuses_stats_until_the_tensor_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = summary.tensor_stats

    def counting(name: str, obj: object) -> summary.TensorStats:
        calls.append(name)
        return real(name, obj)

    monkeypatch.setattr(summary, "tensor_stats", counting)
    cache = StatsCache()
    t = torch.zeros(3)
    first = cache.compute("t", t)
    assert cache.compute("t", t) is first and calls == ["t"]
    assert cache.get("t", t) is first
    t += 1  # in place: the version counter moves
    assert cache.get("t", t) is None
    again = cache.compute("t", t)
    assert dict(again.lines)["max"] == "1" and calls == ["t", "t"]
    t[0] = 5
    assert dict(cache.compute("t", t).lines)["max"] == "5"
    # Another object under the same name is not served the old numbers.
    assert cache.get("t", torch.zeros(3)) is None
    # NumPy arrays have no version counter: never served from the cache.
    arr = np.zeros(3)
    cache.compute("arr", arr)
    assert cache.get("arr", arr) is None
    # Modules: valid until a parameter changes.
    model = nn.Linear(2, 2)
    stats = cache.compute("model", model)
    assert cache.get("model", model) is stats
    with torch.no_grad():
        model.weight.mul_(2)
    assert cache.get("model", model) is None
    cache.forget({"model"})
    assert cache.get("t", t) is None
    # Tensors without a plain storage have no key (data_ptr raises): never cached.
    assert StatsCache.key(torch.eye(2).to_sparse()) is None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Sparse CSR tensor support is in beta state"
        csr = torch.eye(2).to_sparse_csr()
    assert StatsCache.key(csr) is None


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


@needs_cuda
def test_cuda_rows_totals_stats_and_memory() -> None:
    t = torch.arange(6.0, device="cuda").reshape(2, 3)
    ns = {"t": t, "view": t.T, "host": t.cpu()}
    rows = {r.name: r for r in describe_namespace(ns, list(ns))}
    assert rows["t"].device == str(t.device)
    assert memory_by_device(list(rows.values())) == {str(t.device): 24, "cpu": 24}
    stats = tensor_stats("t", t)
    lines = dict(stats.lines)
    assert (lines["min"], lines["max"], lines["zeros"]) == ("0", "5", "1")
    assert stats.preview == tensor_stats("host", ns["host"]).preview
    memory = summary.cuda_memory()
    assert memory is not None and memory["allocated"] >= 24
