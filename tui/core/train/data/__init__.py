"""Datasets for training: built-in synthetic sets, files, and objects from the REPL.

Nothing is ever downloaded. :func:`load_data` (in ``load.py``) understands a synthetic
set (``synthetic.py``), a ``.csv`` (``tabular.py``), a ``.npz`` / ``.npy``
(``arrays.py``), a folder of MNIST-format IDX files (``idx.py``) and, with a namespace,
a REPL variable (``namespace.py``). Each ends in a :class:`DataBundle` (``bundle.py``);
every problem is a :class:`DataError` whose message says what is wrong and how to fix it.
Whether a model fits the data is :func:`tui.core.train.compat.check_compatible`.
"""

from __future__ import annotations

from tui.core.train.data.bundle import DataBundle, DataError, SampleError, fetch_sample
from tui.core.train.data.idx import read_idx
from tui.core.train.data.load import load_data
from tui.core.train.data.synthetic import SYNTHETIC

__all__ = [
    "SYNTHETIC",
    "DataBundle",
    "DataError",
    "SampleError",
    "fetch_sample",
    "load_data",
    "read_idx",
]
