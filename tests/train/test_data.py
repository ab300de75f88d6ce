"""Data sources: synthetic sets, CSV/NPZ/NPY/IDX files, REPL objects, errors, compatibility."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import Dataset, TensorDataset

from tui.core.train.compat import check_compatible
from tui.core.train.data import (
    SYNTHETIC,
    DataError,
    SampleError,
    load_data,
    read_idx,
)

# --- synthetic ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["spirals", "moons", "circles", "xor"])
def test_synthetic_classification_sets(name):
    b = load_data(f"{name}:n=200")
    x, y = b.train.tensors
    assert b.task == "classification" and b.num_classes == 2 and b.val is None
    assert x.shape == (200, 2) and x.dtype == torch.float32
    assert y.shape == (200,) and y.dtype == torch.int64
    assert b.input_shape == (2,) and b.target_shape == ()
    assert set(y.tolist()) == {0, 1}
    assert b.source == f"{name}:n=200" and name in b.description


@pytest.mark.parametrize("name", ["sine", "linear"])
def test_synthetic_regression_sets(name):
    b = load_data(f"{name}:n=100")
    x, y = b.train.tensors
    assert b.task == "regression" and b.num_classes is None
    assert x.shape == (100, 1) and y.shape == (100, 1) and y.dtype == torch.float32
    assert b.target_shape == (1,)


def test_synthetic_is_seeded_and_options_apply():
    a = load_data("spirals:n=300,seed=4").train.tensors[0]
    b = load_data("spirals:n=300,seed=4").train.tensors[0]
    c = load_data("spirals:n=300,seed=5").train.tensors[0]
    assert torch.equal(a, b) and not torch.equal(a, c)
    three = load_data("spirals:n=301,classes=3,noise=0.2")
    assert three.num_classes == 3 and len(three) == 301
    assert load_data("linear:n=50,features=4").input_shape == (4,)
    quiet = load_data("sine:noise=0,n=64").train.tensors
    torch.testing.assert_close(quiet[1], torch.sin(quiet[0]))
    assert len(load_data("moons")) == SYNTHETIC["moons"].options["n"]
    assert load_data(" xor: ").task == "classification"  # blank options are fine


@pytest.mark.parametrize(
    "source, words",
    [
        ("spiral", ["unknown data 'spiral'", "spirals, moons, circles, xor, sine, linear"]),
        ("spirals:m=3", ["unknown option 'm' for spirals", "n, noise, seed, classes"]),
        ("spirals:n=abc", ["n=abc", "must be an integer"]),
        ("spirals:noise=x", ["noise=x", "must be a number"]),
        ("spirals:n=1", ["n=1", "at least 2"]),
        ("spirals:noise=-1", ["noise", "0 or more"]),
        ("spirals:classes=1", ["classes=1"]),
        ("spirals:n", ["name=value"]),
        ("", ["no data given"]),
        ("missing/file.csv", ["no such file or folder"]),
    ],
)
def test_bad_sources_say_what_to_fix(source, words):
    with pytest.raises(DataError) as info:
        load_data(source)
    msg = str(info.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg


# --- split ---------------------------------------------------------------------------------


def test_split_is_seeded_and_disjoint():
    b = load_data("moons:n=100")
    s = b.split(0.2, seed=1)
    assert len(s.train) == 80 and len(s.val) == 20
    assert set(s.train.indices).isdisjoint(s.val.indices)
    assert s.split(0.5) is s  # already has a validation set
    assert b.split(0.2, seed=1).val.indices == s.val.indices
    assert b.split(0.0) is b
    with pytest.raises(DataError):
        b.split(1.0)


# --- CSV -----------------------------------------------------------------------------------


def test_csv_with_header_integer_targets_become_classes(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,b,label\n0.5,1,0\n1.5,2,1\n2.5,3,2\n3.5,4,1\n")
    b = load_data(str(p))
    x, y = b.train.tensors
    assert b.task == "classification" and b.num_classes == 3
    assert x.shape == (4, 2) and y.tolist() == [0, 1, 2, 1]
    assert "label" in b.description


def test_csv_without_header_float_targets_are_regression(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("0.5,1,0.25\n1.5,2,1.75\n2.5,3,3.0\n")
    b = load_data(str(p))
    x, y = b.train.tensors
    assert b.task == "regression" and x.shape == (3, 2) and y.shape == (3, 1)


def test_csv_target_option_by_name_or_index_and_task_override(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("y,a,b\n1,0.1,0.2\n0,0.3,0.4\n1,0.5,0.6\n0,0.7,0.8\n")
    by_name = load_data(f"{p}:target=y")
    by_index = load_data(f"{p}:target=0")
    assert torch.equal(by_name.train.tensors[1], by_index.train.tensors[1])
    assert by_name.train.tensors[0].shape == (4, 2) and by_name.num_classes == 2
    reg = load_data(f"{p}:target=y,task=regression")
    assert reg.task == "regression" and reg.train.tensors[1].dtype == torch.float32


def test_csv_text_labels_and_semicolons(tmp_path):
    p = tmp_path / "iris.csv"
    p.write_text("w;h;kind\n1;2;cat\n3;4;dog\n5;6;cat\n")
    b = load_data(str(p))
    assert b.class_names == ["cat", "dog"] and b.train.tensors[1].tolist() == [0, 1, 0]


def test_csv_text_labels_without_header(tmp_path):
    p = tmp_path / "iris.csv"
    p.write_text("5.1,3.5,setosa\n4.9,3.0,setosa\n6.3,3.3,virginica\n")
    b = load_data(str(p))
    assert len(b) == 3 and b.class_names == ["setosa", "virginica"]


@pytest.mark.parametrize(
    "text, option, words",
    [
        ("", "", ["is empty"]),
        ("a,b\n", "", ["no data rows"]),
        ("1,2,3\n4,5\n", "", ["line 2", "2 columns"]),
        ("a,b,y\n1,x,0\n", "", ["line 2", "'b'", "'x'", "numeric"]),
        ("a,b,y\n1,2,0\n", ":target=z", ["no column 'z'", "a, b, y"]),
        ("1,2,0\n", ":target=7", ["target=7", "3 columns"]),
        ("1,2,0\n", ":colour=red", ["unknown option 'colour'"]),
        ("1,2,0\n", ":task=magic", ["task=magic"]),
        ("5\n6\n", "", ["one column"]),
    ],
)
def test_csv_errors(tmp_path, text, option, words):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(DataError) as info:
        load_data(f"{p}{option}")
    for w in words:
        assert w in str(info.value)


# --- NPZ / NPY -----------------------------------------------------------------------------


def test_npz_keys_and_first_two_arrays(tmp_path):
    x = np.random.default_rng(0).normal(size=(10, 3)).astype(np.float64)
    y = np.arange(10) % 3
    np.savez(tmp_path / "a.npz", X=x, y=y)
    b = load_data(str(tmp_path / "a.npz"))
    assert b.task == "classification" and b.num_classes == 3
    assert b.train.tensors[0].dtype == torch.float32
    np.savez(tmp_path / "b.npz", x=x, y=y.astype(np.float32))
    assert load_data(str(tmp_path / "b.npz")).task == "regression"  # float y: regression
    np.savez(tmp_path / "c.npz", feats=x, labels=y)
    assert load_data(str(tmp_path / "c.npz")).input_shape == (3,)
    np.savez(tmp_path / "d.npz", X=x, y=y, X_val=x[:4], y_val=y[:4])
    assert len(load_data(str(tmp_path / "d.npz")).val) == 4
    np.savez(tmp_path / "e.npz", only=x)
    with pytest.raises(DataError, match="two arrays"):
        load_data(str(tmp_path / "e.npz"))
    np.savez(tmp_path / "f.npz", X=x, y=y[:5])
    with pytest.raises(DataError, match="10 samples but y has 5"):
        load_data(str(tmp_path / "f.npz"))


def test_npy_table_and_pair(tmp_path):
    table = np.column_stack([np.linspace(0, 1, 8), np.linspace(1, 2, 8), np.arange(8) % 2])
    np.save(tmp_path / "t.npy", table)
    b = load_data(str(tmp_path / "t.npy"))
    assert b.task == "classification" and b.input_shape == (2,)  # whole-number last column
    # A saved (X, y) pair is an object array: it would need pickle, which data never gets.
    pair = np.empty(2, dtype=object)
    pair[0], pair[1] = np.ones((5, 4), np.float32), np.arange(5, dtype=np.float32)
    np.save(tmp_path / "p.npy", pair, allow_pickle=True)
    with pytest.raises(DataError, match=r"pickle.*np\.savez"):
        load_data(str(tmp_path / "p.npy"))
    np.save(tmp_path / "flat.npy", np.arange(5.0))
    with pytest.raises(DataError, match="shape"):
        load_data(str(tmp_path / "flat.npy"))
    (tmp_path / "junk.npy").write_bytes(b"nope")
    with pytest.raises(DataError, match="not a readable"):
        load_data(str(tmp_path / "junk.npy"))


def test_unsupported_extension_and_folder_without_idx(tmp_path):
    (tmp_path / "data.txt").write_text("1,2")
    with pytest.raises(DataError, match=r"\.csv, \.npz and \.npy"):
        load_data(str(tmp_path / "data.txt"))
    with pytest.raises(DataError, match="without MNIST-format IDX"):
        load_data(str(tmp_path))


# --- IDX -----------------------------------------------------------------------------------


def write_idx(path, array, gz):
    codes = {np.uint8: 0x08, np.int32: 0x0C}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype.type], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if gz else open
    with opener(path, "wb") as fh:
        fh.write(data)


def make_mnist(folder, n=6, gz=False, prefix="", val=True, sep="-"):
    folder.mkdir(parents=True, exist_ok=True)
    ext = ".gz" if gz else ""
    rng = np.random.default_rng(0)
    imgs = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    imgs[0, 0, 0] = 255
    labels = (np.arange(n) % 10).astype(np.uint8)
    write_idx(folder / f"{prefix}train-images{sep}idx3-ubyte{ext}", imgs, gz)
    write_idx(folder / f"{prefix}train-labels{sep}idx1-ubyte{ext}", labels, gz)
    if val:
        write_idx(folder / f"{prefix}t10k-images{sep}idx3-ubyte{ext}", imgs[:3], gz)
        write_idx(folder / f"{prefix}t10k-labels{sep}idx1-ubyte{ext}", labels[:3], gz)
    return imgs, labels


@pytest.mark.parametrize("gz", [False, True])
def test_idx_folder(tmp_path, gz):
    imgs, labels = make_mnist(tmp_path / "mnist", gz=gz)
    b = load_data(str(tmp_path / "mnist"))
    x, y = b.train.tensors
    assert x.shape == (6, 1, 28, 28) and x.dtype == torch.float32
    assert float(x.max()) == 1.0 and float(x.min()) >= 0.0
    torch.testing.assert_close(x[1, 0], torch.from_numpy(imgs[1]).float() / 255)
    assert y.tolist() == labels.tolist() and b.num_classes == 6
    assert len(b.val) == 3 and b.split(0.5) is b  # t10k is the validation set


def test_idx_prefix_raw_subfolder_and_dotted_names(tmp_path):
    make_mnist(tmp_path / "fashion", prefix="fashion-", val=False)
    b = load_data(str(tmp_path / "fashion" / "fashion"))
    assert b.val is None and b.input_shape == (1, 28, 28)
    make_mnist(tmp_path / "tv" / "MNIST" / "raw", sep=".", gz=True)
    assert len(load_data(str(tmp_path / "tv"))) == 6


def test_idx_errors(tmp_path):
    folder = tmp_path / "m"
    make_mnist(folder, val=False)
    (folder / "train-labels-idx1-ubyte").unlink()
    with pytest.raises(DataError, match="no train-labels"):
        load_data(str(folder))
    path = folder / "train-images-idx3-ubyte"
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(DataError, match="truncated"):
        read_idx(path)
    path.write_bytes(b"\x01\x02\x03\x04" + data[4:])
    with pytest.raises(DataError, match="magic"):
        read_idx(path)
    (tmp_path / "g").mkdir()
    (tmp_path / "g" / "train-images-idx3-ubyte.gz").write_bytes(b"not gzip")
    (tmp_path / "g" / "train-labels-idx1-ubyte.gz").write_bytes(b"not gzip")
    with pytest.raises(DataError, match="not a readable gzip file"):
        load_data(str(tmp_path / "g"))


# --- REPL namespace ----------------------------------------------------------------------


class Squares(Dataset):
    def __init__(self, n, fail_at=None):
        self.n, self.fail_at = n, fail_at

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        if i == self.fail_at:
            raise KeyError(f"no image for id {i}")
        return torch.tensor([float(i), float(i * i)]), i % 3


def test_namespace_dataset_tuple_and_tensordataset():
    x = torch.randn(20, 5)
    y = torch.randint(0, 4, (20,))
    y[0] = 3
    ns = {"ds": Squares(12), "pair": (x, y), "tds": TensorDataset(x, y), "arr": (x.numpy(), y)}
    b = load_data("ds", ns)
    assert b.task == "classification" and b.num_classes == 3 and b.input_shape == (2,)
    assert load_data("pair", ns).num_classes == 4
    assert load_data("tds", ns).input_shape == (5,)
    assert load_data("arr", ns).train.tensors[0].dtype == torch.float32
    # A variable shadows a built-in name; without a namespace the built-in is used.
    assert load_data("moons", {"moons": (x, y)}).input_shape == (5,)
    with pytest.raises(DataError, match="is a int"):
        load_data("n", {"n": 3})
    with pytest.raises(DataError, match="or a REPL variable"):
        load_data("nothing", ns)


def test_namespace_integer_inputs_kept_for_embeddings():
    ids = torch.randint(0, 100, (8, 6))
    b = load_data("t", {"t": (ids, torch.randn(8, 1))})
    assert b.input_dtype == torch.int64 and b.task == "regression"


def test_namespace_dataset_that_raises_names_the_index():
    with pytest.raises(SampleError) as info:
        load_data("ds", {"ds": Squares(5, fail_at=0)})
    assert "sample 0" in str(info.value) and "no image for id 0" in str(info.value)


# --- compatibility -------------------------------------------------------------------------


def mlp(inp=2, out=2):
    return nn.Sequential(nn.Linear(inp, 16), nn.ReLU(), nn.Linear(16, out))


def test_compatible_model_passes_and_is_left_as_it_was():
    b = load_data("spirals:n=50")
    model = nn.Sequential(nn.Linear(2, 8), nn.BatchNorm1d(8), nn.Linear(8, 2))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    check_compatible(model, b, "cross_entropy")
    assert model.training  # mode restored
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k  # no BatchNorm statistics updated


@pytest.mark.parametrize(
    "model, data, loss, words",
    [
        (
            mlp(out=10),
            "spirals:n=40",
            "cross_entropy",
            ["outputs (B, 10) but the data has 2 classes", "out_features to 2"],
        ),
        (mlp(784), "spirals:n=40", "cross_entropy", ["expects 784 input features", "(2,)"]),
        (
            nn.Sequential(nn.Linear(2, 8), nn.Linear(9, 2)),
            "spirals:n=40",
            "cross_entropy",
            ["layer 1 (Linear) expects 9 features", "(B, 8)"],
        ),
        (mlp(1, 2), "sine:n=40", "mse", ["outputs (B, 2)", "(B, 1)", "out_features to 1"]),
        (mlp(1, 1), "sine:n=40", "cross_entropy", ["needs class labels", "--loss mse"]),
        (mlp(2, 2), "moons:n=40", "mse", ["class labels", "--loss cross_entropy"]),
        (mlp(2, 2), "moons:n=40", "bce_with_logits", ["one output per sample"]),
        (mlp(2, 3), "spirals:n=40,classes=3", "bce_with_logits", ["two classes", "3"]),
        (mlp(2, 2), "moons:n=40", "hinge", ["unknown loss 'hinge'"]),
        (
            nn.Sequential(nn.Embedding(10, 4)),
            "moons:n=40",
            "cross_entropy",
            ["Embedding", "integer token ids"],
        ),
        (nn.Sequential(nn.Identity()), "moons:n=40", "cross_entropy", []),
    ],
)
def test_incompatible_models_get_plain_messages(model, data, loss, words):
    b = load_data(data)
    if not words:  # Identity outputs (B, 2): compatible with 2 classes
        check_compatible(model, b, loss)
        return
    with pytest.raises(DataError) as info:
        check_compatible(model, b, loss)
    msg = str(info.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg


def test_flatten_hint_for_images(tmp_path):
    make_mnist(tmp_path / "m", val=False)
    b = load_data(str(tmp_path / "m"))
    with pytest.raises(DataError, match="add a Flatten layer before the first Linear"):
        check_compatible(mlp(784, 10), b, "cross_entropy")
    ok = nn.Sequential(nn.Flatten(), mlp(784, 6))
    check_compatible(ok, b, "cross_entropy")
    conv = nn.Sequential(nn.Conv2d(3, 4, 3))
    with pytest.raises(DataError, match="expects 3 input channels"):
        check_compatible(conv, b, "cross_entropy")


def test_binary_labels_with_one_logit_and_integer_inputs():
    b = load_data("moons:n=40")
    check_compatible(mlp(2, 1), b, "bce_with_logits")
    ids = load_data("t", {"t": (torch.randint(0, 5, (8, 3)), torch.zeros(8, dtype=torch.long))})
    with pytest.raises(DataError, match="needs float inputs but receives int64"):
        check_compatible(mlp(3, 1), ids, "cross_entropy")


def test_model_returning_a_tuple():
    class Two(nn.Module):
        def forward(self, x):
            return x, x

    with pytest.raises(DataError, match="returns a tuple"):
        check_compatible(Two(), load_data("moons:n=10"), "cross_entropy")
