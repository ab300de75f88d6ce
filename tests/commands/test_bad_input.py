"""A corpus of bad files and options for every command and loader: each gets one line on
stderr, exit code 2, and nothing is written or overwritten.

The files are made by small builders (a spec nested 100,000 brackets deep, an ``.npy``
object array carrying a pickled payload, an IDX header that claims 2**32-1 items, ...);
each case runs ``tui.cli.main`` in-process inside a fresh workspace and compares the
workspace's files before and after.
"""

from __future__ import annotations

import gzip
import json
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from tui.cli import main

GOOD_SPEC = {
    "format": 1,
    "input_shape": [2],
    "layers": [
        {"type": "Linear", "in_features": "auto", "out_features": 8},
        {"type": "ReLU"},
        {"type": "Linear", "in_features": "auto", "out_features": 2},
    ],
}

PWNED = "pwned.txt"
HUGE_LINEAR = {
    "format": 1,
    "input_shape": [2],
    "layers": [{"type": "Linear", "in_features": 2, "out_features": 10**10}],
}


class _Payload:
    """Unpickling this writes a marker file: proof that a loader ran code from data."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (Path(self.marker), "ran"))


def _spec(ws: Path, spec: object, name: str = "spec.json") -> str:
    path = ws / name
    path.write_text(spec if isinstance(spec, str) else json.dumps(spec))
    return str(path)


def _layers(*layers: dict) -> dict:
    return {"format": 1, "input_shape": [2], "layers": list(layers)}


def _csv(ws: Path, text: str) -> str:
    (ws / "d.csv").write_text(text)
    return str(ws / "d.csv")


def _evil_npy(ws: Path) -> str:
    arr = np.empty(2, dtype=object)
    arr[0] = _Payload(str(ws / PWNED))
    arr[1] = 1
    np.save(ws / "evil.npy", arr, allow_pickle=True)
    return str(ws / "evil.npy")


def _evil_npz(ws: Path) -> str:
    x = np.empty(2, dtype=object)
    x[0] = _Payload(str(ws / PWNED))
    np.savez(ws / "evil.npz", X=x, y=np.zeros(2))
    return str(ws / "evil.npz")


def _raw_pickle_npy(ws: Path) -> str:
    (ws / "p.npy").write_bytes(pickle.dumps(_Payload(str(ws / PWNED))))
    return str(ws / "p.npy")


def _idx_folder(ws: Path, images: bytes, labels: bytes, gz: bool = False) -> str:
    folder = ws / "mnist"
    folder.mkdir()
    suffix = ".gz" if gz else ""
    opener = gzip.open if gz else open
    with opener(folder / f"train-images-idx3-ubyte{suffix}", "wb") as fh:
        fh.write(images)
    with opener(folder / f"train-labels-idx1-ubyte{suffix}", "wb") as fh:
        fh.write(labels)
    return str(folder)


def _idx_huge(ws: Path) -> str:
    images = struct.pack(">HBBIII", 0, 0x08, 3, 0xFFFFFFFF, 28, 28) + bytes(28 * 28)
    labels = struct.pack(">HBBI", 0, 0x08, 1, 0xFFFFFFFF) + bytes(1)
    return _idx_folder(ws, images, labels)


def _idx_corrupt_gz(ws: Path) -> str:
    folder = ws / "mnist"
    folder.mkdir()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    (folder / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage" * 10)
    return str(folder)


def _idx_short(ws: Path) -> str:
    images = struct.pack(">HBBIII", 0, 0x08, 3, 10, 28, 28) + bytes(100)  # 10 claimed, 0 there
    labels = struct.pack(">HBBI", 0, 0x08, 1, 10) + bytes(10)
    return _idx_folder(ws, images, labels)


@dataclass
class Case:
    id: str
    argv: Callable[[Path], list[str]]
    says: str = ""  # a word the one line must contain (case-insensitive)


def _train(data: str | Callable[[Path], str], *extra: str, spec: object = GOOD_SPEC) -> Callable:
    def argv(ws: Path) -> list[str]:
        d = data(ws) if callable(data) else data
        return ["train", _spec(ws, spec), "--data", d, "--epochs", "1", *extra]

    return argv


def _summary(spec: object, *extra: str) -> Callable:
    return lambda ws: ["summary", _spec(ws, spec), *extra]


def _export(spec: object) -> Callable:
    return lambda ws: ["export", _spec(ws, spec)]


SPECS: list[tuple[str, object]] = [
    ("empty file", ""),
    ("not json", "{format: 1"),
    ("binary", "\x00\x01\x02"),
    ("nested 100000 deep", "[" * 100_000 + "]" * 100_000),
    ("nested objects", '{"a":' * 50_000 + "1" + "}" * 50_000),
    ("a list", [1, 2, 3]),
    ("format 2", {**GOOD_SPEC, "format": 2}),
    ("format string", {**GOOD_SPEC, "format": "1"}),
    ("no layers", {"format": 1, "input_shape": [2]}),
    ("layers not a list", {**GOOD_SPEC, "layers": {"type": "ReLU"}}),
    ("layer not an object", {**GOOD_SPEC, "layers": ["ReLU"]}),
    ("unknown layer", _layers({"type": "Linaer", "out_features": 2})),
    ("no type", _layers({"out_features": 2})),
    ("unknown argument", _layers({"type": "Linear", "in_features": 2, "out_feat": 2})),
    ("argument wrong type", _layers({"type": "Linear", "in_features": 2, "out_features": "x"})),
    ("negative features", _layers({"type": "Linear", "in_features": 2, "out_features": -3})),
    ("zero features", _layers({"type": "Linear", "in_features": 2, "out_features": 0})),
    ("float features", _layers({"type": "Linear", "in_features": 2, "out_features": 2.5})),
    ("bool features", _layers({"type": "Linear", "in_features": 2, "out_features": True})),
    ("huge int", _layers({"type": "Linear", "in_features": 2, "out_features": 10**400})),
    ("shape mismatch", _layers({"type": "Linear", "in_features": 3, "out_features": 2})),
    ("input shape negative", {**GOOD_SPEC, "input_shape": [-2]}),
    ("input shape string", {**GOOD_SPEC, "input_shape": "2"}),
    ("input shape nested", {**GOOD_SPEC, "input_shape": [[2]]}),
    ("input dtype bad", {**GOOD_SPEC, "input_dtype": "float128"}),
    ("extra top-level field", {**GOOD_SPEC, "lyers": []}),
    ("NaN literal", '{"format": 1, "input_shape": [NaN], "layers": []}'),
]

CASES: list[Case] = []
for name, bad in SPECS:
    CASES.append(Case(f"summary spec: {name}", _summary(bad)))
    CASES.append(Case(f"export spec: {name}", _export(bad)))
    CASES.append(Case(f"train spec: {name}", _train("xor:n=64", spec=bad)))

CASES += [
    Case("summary: missing file", lambda ws: ["summary", str(ws / "nope.json")], "nope.json"),
    Case("summary: a folder", lambda ws: ["summary", str(ws)]),
    Case("summary --input letters", _summary(GOOD_SPEC, "--input", "a,b"), "input"),
    Case("summary --input zero", _summary(GOOD_SPEC, "--input", "0")),
    Case("summary --input negative", _summary(GOOD_SPEC, "--input", "-1")),
    Case("summary --input empty", _summary(GOOD_SPEC, "--input", "")),
    Case("summary --input 1e400", _summary(GOOD_SPEC, "--input", "1e400")),
    Case("summary --input huge", _summary(GOOD_SPEC, "--input", "9" * 40)),
    Case(
        "train: out_features 10**10",
        _train(
            "xor:n=64", spec=_layers({"type": "Linear", "in_features": 2, "out_features": 10**10})
        ),
    ),
    Case("train: unknown data", _train("spirls"), "spirls"),
    Case("train: data option letters", _train("spirals:n=abc"), "n"),
    Case("train: data n huge", _train("spirals:n=10000000000"), "n"),
    Case("train: data n zero", _train("spirals:n=0"), "n"),
    Case("train: data noise negative", _train("spirals:noise=-1"), "noise"),
    Case("train: data unknown option", _train("spirals:foo=1"), "foo"),
    Case("train: data missing file", _train(lambda ws: str(ws / "missing.csv")), "missing.csv"),
    Case("train: csv empty", _train(lambda ws: _csv(ws, ""))),
    Case("train: csv header only", _train(lambda ws: _csv(ws, "a,b,y\n"))),
    Case("train: csv ragged", _train(lambda ws: _csv(ws, "1,2,0\n1,2\n3,4,1\n"))),
    Case("train: csv text", _train(lambda ws: _csv(ws, "1,x,0\n1,2,1\n"))),
    Case("train: csv NaN", _train(lambda ws: _csv(ws, "1,2,0\nnan,2,1\n" * 10)), "nan"),
    Case("train: csv inf", _train(lambda ws: _csv(ws, "1,2,0\ninf,2,1\n" * 10))),
    Case("train: csv 1e308", _train(lambda ws: _csv(ws, "1,2,0\n1e308,2,1\n" * 10))),
    Case("train: csv binary", _train(lambda ws: _csv(ws, "\x00\xff\x00\n"))),
    Case("train: npy object array with a payload", _train(_evil_npy), "pickle"),
    Case("train: npz object array with a payload", _train(_evil_npz), "pickle"),
    Case("train: npy that is a raw pickle", _train(_raw_pickle_npy)),
    Case("train: npz missing y", _train(lambda ws: _npz(ws, X=np.zeros((4, 2))))),
    Case(
        "train: npz length mismatch", _train(lambda ws: _npz(ws, X=np.zeros((4, 2)), y=np.zeros(3)))
    ),
    Case("train: npy garbage", _train(lambda ws: _bytes(ws, "g.npy", b"\x93NUMPY garbage"))),
    Case("train: npz garbage", _train(lambda ws: _bytes(ws, "g.npz", b"PK\x03\x04garbage"))),
    Case("train: idx claiming 2**32-1 items", _train(_idx_huge)),
    Case("train: idx corrupt gz", _train(_idx_corrupt_gz)),
    Case("train: idx shorter than its header", _train(_idx_short)),
    Case("train: folder without data", _train(lambda ws: str(_dir(ws, "empty")))),
    Case("train: --epochs 0", _train("xor:n=64", "--epochs", "0"), "epochs"),
    Case("train: --epochs -1", _train("xor:n=64", "--epochs", "-1"), "epochs"),
    Case("train: --lr nan", _train("xor:n=64", "--lr", "nan"), "lr"),
    Case("train: --lr -1", _train("xor:n=64", "--lr", "-1"), "lr"),
    Case("train: --lr inf", _train("xor:n=64", "--lr", "inf"), "lr"),
    Case("train: --batch-size 0", _train("xor:n=64", "--batch-size", "0"), "batch"),
    Case("train: --val-split 1.5", _train("xor:n=64", "--val-split", "1.5"), "val"),
    Case("train: --optimizer 100000", _train("xor:n=64", "--optimizer", "100000"), "optimizer"),
    Case("train: --loss foo", _train("xor:n=64", "--loss", "foo"), "loss"),
    Case("train: --num-threads 0", _train("xor:n=64", "--num-threads", "0"), "threads"),
    Case("train: --grad-clip -1", _train("xor:n=64", "--grad-clip", "-1"), "clip"),
    Case("train: --epochs letters", _train("xor:n=64", "--epochs", "ten"), "epochs"),
    Case("train: no --data", lambda ws: ["train", _spec(ws, GOOD_SPEC)], "data"),
    Case("train: unknown option", _train("xor:n=64", "--lrr", "1"), "lrr"),
    Case(
        "train: --run-dir is a file",
        lambda ws: [*_train("xor:n=64")(ws), "--run-dir", str(_bytes(ws, "afile", b"x"))],
    ),
    Case(
        "train: --workspace is a file",
        lambda ws: [*_train("xor:n=64")(ws), "--workspace", str(_bytes(ws, "wsfile", b"x"))],
    ),
    Case("unknown command", lambda ws: ["trian", "x"]),
]


def _npz(ws: Path, **arrays: np.ndarray) -> str:
    np.savez(ws / "d.npz", **arrays)
    return str(ws / "d.npz")


def _bytes(ws: Path, name: str, data: bytes) -> str:
    (ws / name).write_bytes(data)
    return str(ws / name)


def _dir(ws: Path, name: str) -> Path:
    (ws / name).mkdir()
    return ws / name


def _npy_header_only(ws: Path, shape: tuple[int, ...]) -> str:
    with open(ws / "h.npy", "wb") as fh:
        np.lib.format.write_array_header_1_0(
            fh, {"descr": "<f8", "fortran_order": False, "shape": shape}
        )
        fh.write(bytes(64))
    return str(ws / "h.npy")


def _idx_huge_gz(ws: Path) -> str:
    images = struct.pack(">HBBIII", 0, 0x08, 3, 0xFFFFFFFF, 28, 28) + bytes(28 * 28)
    labels = struct.pack(">HBBI", 0, 0x08, 1, 0xFFFFFFFF) + bytes(1)
    return _idx_folder(ws, images, labels, gz=True)


def _pickle0_npy(ws: Path) -> str:
    (ws / "p0.npy").write_bytes(pickle.dumps(_Payload(str(ws / PWNED)), protocol=0))
    return str(ws / "p0.npy")


# Data loaders, more of them: headers that lie, float32 overflow, bounds on synthetic sets.
CASES += [
    Case(
        "train: npy header claiming 10**12 floats",
        _train(lambda ws: _npy_header_only(ws, (10**6, 10**6))),
        "claims",
    ),
    Case("train: idx.gz claiming 2**32-1 items", _train(_idx_huge_gz), "claims"),
    Case("train: npy that is a protocol-0 pickle", _train(_pickle0_npy)),
    Case(
        "train: csv 1e39 (beyond float32)",
        _train(lambda ws: _csv(ws, "1,2,0\n1e39,2,1\n" * 5)),
        "float32",
    ),
    Case("train: csv NUL bytes", _train(lambda ws: _csv(ws, "1,2,0\n1,\x002,1\n"))),
    Case("train: csv only delimiters", _train(lambda ws: _csv(ws, ",,,\n,,,\n"))),
    Case(
        "train: csv label 10**12",
        _train(lambda ws: _csv(ws, "1,2,0\n3,4,1000000000000\n" * 3)),
        "class",
    ),
    Case("train: data classes huge", _train("spirals:classes=100000,n=200000"), "classes"),
    Case("train: data features huge", _train("linear:features=100000000"), "features"),
    Case("train: data n with 5000 digits", _train("xor:n=" + "9" * 5000), "integer"),
    Case("train: data path too long", _train("d" * 5000 + ".csv")),
]


def _snapshot(ws: Path) -> dict[str, bytes]:
    return {str(p.relative_to(ws)): p.read_bytes() for p in ws.rglob("*") if p.is_file()}


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    monkeypatch.chdir(ws)
    argv = case.argv(ws)
    if argv[0] == "train" and "--workspace" not in argv and "--run-dir" not in argv:
        argv += ["--workspace", str(ws)]
    capsys.readouterr()
    before = _snapshot(ws)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == 2, f"exit {code}; stderr: {err[-2000:]}"
    assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err[-2000:]!r}"
    assert "Traceback" not in err
    assert len(err) < 500
    if case.says:
        assert case.says.lower() in err.lower(), err
    assert not (ws / PWNED).exists(), "a data file ran code"
    assert _snapshot(ws) == before, "something was written"
    assert not (ws / "runs").exists()
    del out


def test_the_corpus_is_large() -> None:
    assert len(CASES) >= 100


def test_a_finished_run_is_not_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    spec = _spec(tmp_path, GOOD_SPEC)
    run = tmp_path / "run"
    assert main(["train", spec, "--data", "xor:n=64", "--epochs", "1", "--run-dir", str(run)]) == 0
    before = _snapshot(run)
    capsys.readouterr()
    code = main(["train", spec, "--data", "xor:n=64", "--epochs", "1", "--run-dir", str(run)])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "--run-dir" in err, err
    assert _snapshot(run) == before
