"""Hostile data files: every loader refuses malformed input with one DataError line that
names the file and the place, never unpickles, and never allocates what a header claims
before checking it against the bytes there are.

The command-line side (exit 2, nothing written) is tests/commands/test_bad_input.py;
these are the engine's own checks, including the monitor's path (``prepare_run``).
"""

from __future__ import annotations

import gzip
import pickle
import struct
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tui.core.train.data import DataError, load_data, read_idx
from tui.core.train.prepare import prepare_run
from tui.core.train.settings import PrepareError, RunSettings


class _Payload:
    """Unpickling this writes a marker file: proof that a loader ran code from data."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "ran"))


def _refused(source: str | Path, *words: str) -> str:
    with pytest.raises(DataError) as info:
        load_data(str(source))
    text = str(info.value)
    assert "\n" not in text and len(text) <= 400, text
    for word in words:
        assert word.lower() in text.lower(), text
    return text


def _npy_with_header(path: Path, header: dict, payload: bytes = b"") -> Path:
    with open(path, "wb") as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        fh.write(payload)
    return path


def test_object_npy_is_refused_with_how_to_save_it(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = _Payload(marker), 1
    np.save(tmp_path / "evil.npy", arr, allow_pickle=True)
    text = _refused(tmp_path / "evil.npy", "evil.npy", "pickle", "np.save(path, x.astype")
    assert "never loads" in text
    assert not marker.exists()


def test_raw_pickle_named_npy_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for protocol in (0, 2, pickle.HIGHEST_PROTOCOL):
        (tmp_path / "p.npy").write_bytes(pickle.dumps(_Payload(marker), protocol=protocol))
        _refused(tmp_path / "p.npy", "p.npy")
    assert not marker.exists()


def test_object_array_inside_npz_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    x = np.empty(2, dtype=object)
    x[0] = _Payload(marker)
    np.savez(tmp_path / "evil.npz", X=x, y=np.zeros(2))
    _refused(tmp_path / "evil.npz", "evil.npz[X]", "pickle")
    assert not marker.exists()


def test_the_monitor_path_refuses_it_too(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    arr = np.empty(2, dtype=object)
    arr[0], arr[1] = _Payload(marker), 1
    np.save(tmp_path / "evil.npy", arr, allow_pickle=True)
    settings = RunSettings(model="m", data=str(tmp_path / "evil.npy"))
    with pytest.raises(PrepareError, match="pickle"):
        prepare_run(settings, workspace=tmp_path, namespace={"m": torch.nn.Linear(2, 2)})
    assert not marker.exists() and not (tmp_path / "runs").exists()


def test_npy_header_claiming_more_than_the_file_holds(tmp_path: Path) -> None:
    huge = {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
    _refused(_npy_with_header(tmp_path / "h.npy", huge, bytes(64)), "h.npy", "claims")
    short = {"descr": "<f4", "fortran_order": False, "shape": (10, 3)}
    _refused(_npy_with_header(tmp_path / "s.npy", short, bytes(12)), "truncated")


def test_npz_member_header_checked_against_its_size(tmp_path: Path) -> None:
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": "<f8", "fortran_order": False, "shape": (2**40,)}
    )
    with zipfile.ZipFile(tmp_path / "h.npz", "w") as z:
        z.writestr("X.npy", buf.getvalue() + bytes(8))
        z.writestr("y.npy", buf.getvalue() + bytes(8))
    _refused(tmp_path / "h.npz", "h.npz[X]", "claims")


@pytest.mark.parametrize(
    "header",
    [
        b"\x93NUMPY\x01\x00\x10\x00{'descr': 1}    \n",
        b"\x93NUMPY\x01\x00\xff\xff" + b"x" * 100,
        b"\x93NUMPY\x09\x00\x10\x00" + b" " * 16,
        b"\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), } \n",
    ],
    ids=["descr not a type", "header past the end", "version 9", "negative shape"],
)
def test_malformed_npy_headers(tmp_path: Path, header: bytes) -> None:
    (tmp_path / "m.npy").write_bytes(header)
    _refused(tmp_path / "m.npy", "m.npy")


@pytest.mark.parametrize(
    ("dtype", "ok"),
    [(">f4", True), ("<u2", True), (">i8", True), ("<f2", True), ("<c8", False), ("V8", False)],
)
def test_npy_dtypes_become_tensors_or_are_refused(tmp_path: Path, dtype: str, ok: bool) -> None:
    table = np.zeros((6, 3), dtype=dtype)
    if dtype[0] != "V":
        table[:, -1] = [0, 1, 0, 1, 0, 1]
    np.save(tmp_path / "t.npy", table)
    if ok:
        assert load_data(str(tmp_path / "t.npy")).input_shape == (2,)
    else:
        _refused(tmp_path / "t.npy", "t.npy")


def test_npz_that_is_garbage_or_truncated(tmp_path: Path) -> None:
    np.savez_compressed(tmp_path / "ok.npz", X=np.zeros((50, 2)), y=np.zeros(50))
    data = (tmp_path / "ok.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    _refused(tmp_path / "cut.npz", "cut.npz")
    (tmp_path / "flip.npz").write_bytes(
        data[:60] + bytes(b ^ 0xFF for b in data[60:120]) + data[120:]
    )
    _refused(tmp_path / "flip.npz", "flip.npz")


@pytest.mark.parametrize(
    ("cell", "why"),
    [
        ("nan", "not a finite"),
        ("inf", "not a finite"),
        ("-inf", "not a finite"),
        ("1e308", "float32"),
        ("-4e38", "float32"),
    ],
)
def test_csv_non_finite_and_float32_overflow_named_by_line_and_column(
    tmp_path: Path, cell: str, why: str
) -> None:
    (tmp_path / "d.csv").write_text(f"a,b,y\n1,2,0\n3,{cell},1\n4,5,0\n")
    text = _refused(tmp_path / "d.csv", "d.csv", "line 3", "'b'", why)
    assert "number 2" in text


def test_csv_bad_target_is_named_too(tmp_path: Path) -> None:
    (tmp_path / "d.csv").write_text("1,2,0.5\n3,4,nan\n")
    _refused(tmp_path / "d.csv", "line 2", "number 3")


@pytest.mark.parametrize(
    "text",
    [
        "1,2,0\n1,\x002,1\n",
        ",,,\n,,,\n",
        '1,"2,0\n' + "x" * 200_000 + "\n",
        "1,2,1e999999\n3,4,0\n",
    ],
    ids=["NUL", "only delimiters", "unclosed quote over the field limit", "1e999999"],
)
def test_csv_oddities(tmp_path: Path, text: str) -> None:
    (tmp_path / "d.csv").write_text(text)
    _refused(tmp_path / "d.csv", "d.csv")


def test_class_labels_beyond_a_sane_count(tmp_path: Path) -> None:
    np.savez(tmp_path / "d.npz", X=np.zeros((4, 2)), y=np.array([0, 1, 2, 10**12]))
    _refused(tmp_path / "d.npz", "class labels", "1,000,000")


def _idx(path: Path, magic: bytes, dims: tuple[int, ...], data: bytes, gz: bool = False) -> Path:
    raw = magic + struct.pack(f">{len(dims)}I", *dims) + data
    path.write_bytes(gzip.compress(raw) if gz else raw)
    return path


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
def test_idx_header_claiming_4_billion_items_allocates_nothing(tmp_path: Path, gz: bool) -> None:
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    path = _idx(tmp_path / name, b"\x00\x00\x08\x03", (0xFFFFFFFF, 28, 28), bytes(784), gz)
    with pytest.raises(DataError, match="claims") as info:
        read_idx(path)
    assert name in str(info.value)


def test_corrupt_gzip_idx_is_one_line(tmp_path: Path) -> None:
    good = gzip.compress(b"\x00\x00\x08\x01" + struct.pack(">I", 1000) + bytes(1000))
    cases = {
        "zlib": b"\x1f\x8b\x08\x00garbage" * 10,
        "cut": good[: len(good) // 2],
        "crc": good[:-8] + b"\x00" * 8,
    }
    for what, data in cases.items():
        path = tmp_path / f"{what}-labels-idx1-ubyte.gz"
        path.write_bytes(data)
        with pytest.raises(DataError) as info:
            read_idx(path)
        assert path.name in str(info.value) and "\n" not in str(info.value), what


@pytest.mark.parametrize(
    ("source", "word"),
    [
        ("spirals:n=10000000000", "at most 10,000,000"),
        ("spirals:classes=100000,n=200000", "classes"),
        ("linear:features=100000000", "features"),
        ("circles:factor=nan", "factor"),
        ("moons:seed=-1", "seed"),
        ("xor:n=" + "9" * 5000, "integer"),
        ("sine:noise=1e400", "noise"),
    ],
)
def test_synthetic_options_are_bounded(source: str, word: str) -> None:
    _refused(source, word)


def test_the_net_under_the_loaders_turns_any_error_into_one_line(tmp_path: Path) -> None:
    class Hostile:
        def __getitem__(self, i: int) -> object:
            raise RuntimeError("boom\nsecond line")

        def __len__(self) -> int:
            raise OverflowError("cannot fit 'int' into an index-sized integer")

    with pytest.raises(DataError, match="cannot be loaded") as info:
        load_data("h", namespace={"h": Hostile()})
    assert "\n" not in str(info.value)
    _refused("a" * 5000 + ".csv")
