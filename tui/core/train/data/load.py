"""``load_data``: from a source string to a :class:`DataBundle`, by the source's kind.

A REPL variable (when a namespace is given) comes first, as in Python a variable shadows
a built-in name; then a synthetic set's name, then a path: ``.csv``, ``.npz``, ``.npy``,
or a folder or prefix of IDX files. Options follow a colon (``spirals:n=2000``,
``data.csv:target=label``).
"""

from __future__ import annotations

import os
from pathlib import Path

from tui.core.text import first_line
from tui.core.train.data.arrays import load_npy, load_npz
from tui.core.train.data.bundle import DataBundle, DataError, check_file_options, parse_options
from tui.core.train.data.idx import find_idx, load_idx
from tui.core.train.data.namespace import from_namespace
from tui.core.train.data.synthetic import SYNTHETIC, load_synthetic
from tui.core.train.data.tabular import load_csv

__all__ = ["load_data"]

_FILE_LOADERS = {".csv": load_csv, ".npz": load_npz, ".npy": load_npy}


def load_data(source: str, namespace: dict | None = None) -> DataBundle:
    """Load ``source`` (a synthetic set, a file, a folder or a REPL variable).

    Raises:
        DataError: the source is unknown or unreadable, or an option is wrong; the
            message says what to change.
    """
    if not isinstance(source, str) or not source.strip():
        raise DataError(
            "no data given: name a synthetic set (" + ", ".join(SYNTHETIC) + "), "
            "a .csv/.npz/.npy file or a folder of IDX files"
        )
    source = source.strip()
    try:
        return _load(source, namespace)
    except DataError:
        raise
    except MemoryError:
        raise DataError(f"{source} is too large to load into memory") from None
    except Exception as exc:
        # A loader's own checks name the file and the place; this is the net under them
        # (a path too long for the OS, a user Dataset whose __len__ raises, ...), so no
        # traceback reaches the user, whatever the input.
        raise DataError(
            f"{source} cannot be loaded: {type(exc).__name__}: {first_line(exc)}"
        ) from exc


def _load(source: str, namespace: dict | None) -> DataBundle:
    if namespace is not None and source in namespace:
        return from_namespace(source, namespace[source], source)

    name, option_text = source, ""
    if not os.path.exists(source):
        head, sep, tail = source.rpartition(":")
        if sep and ("=" in tail or not tail or head in SYNTHETIC or os.path.exists(head)):
            name, option_text = head, tail

    if name in SYNTHETIC:
        return load_synthetic(name, option_text, source)

    path = Path(name).expanduser()
    opts = parse_options(option_text, path.name) if option_text else {}
    suffix = path.suffix.lower()
    if path.is_file() and suffix in _FILE_LOADERS:
        try:
            return _FILE_LOADERS[suffix](path, opts, source)
        except DataError as exc:
            # Checks shared by every source ("the inputs (X) hold NaN") name no file.
            if path.name in str(exc):
                raise
            raise DataError(f"{path}: {exc}") from None
    idx_files = find_idx(path)
    if idx_files is not None:
        check_file_options(opts, set(), str(path))
        return load_idx(idx_files, source)
    if path.is_file():
        raise DataError(
            f"{path}: dltui reads .csv, .npz and .npy files and folders of IDX files, "
            f"not {suffix or 'files without an extension'}"
        )
    if path.is_dir():
        raise DataError(f"{path} is a folder without MNIST-format IDX files (train-images-...)")
    valid = ", ".join(SYNTHETIC)
    looks_like_path = os.sep in name or "." in name
    if looks_like_path:
        raise DataError(f"no such file or folder: {path}")
    names = f"{valid}" + (", or a REPL variable" if namespace is not None else "")
    raise DataError(f"unknown data {name!r}: use one of {names}, or the path of a file")
