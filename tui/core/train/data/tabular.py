"""CSV files: numeric feature columns and a target column (the last unless ``target=``).

The delimiter (comma, semicolon, tab) is sniffed; a header is recognised by text where
the data has numbers. A text target column ("setosa", "cat") becomes class labels in
sorted order; ``task=classification|regression`` overrides the guess for numbers.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from tui.core.train.data.bundle import (
    DataBundle,
    DataError,
    bundle_from_tensors,
    check_file_options,
    task_option,
)

__all__ = ["is_number", "load_csv"]


def load_csv(path: Path, opts: dict[str, str], source: str) -> DataBundle:
    check_file_options(opts, {"target", "task"}, path.name)
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            text = fh.read()
    except UnicodeDecodeError:
        raise DataError(f"{path} is not a text CSV file (it is not UTF-8)") from None
    except OSError as exc:
        raise DataError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if "\x00" in text:
        raise DataError(f"{path} is not a text CSV file (it holds NUL bytes)")
    lines = text.splitlines()
    if not any(line.strip() for line in lines):
        raise DataError(f"{path} is empty")
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    try:
        rows = [
            (lineno, row)
            for lineno, row in enumerate(csv.reader(lines, delimiter=delimiter), start=1)
            if row and any(c.strip() for c in row)
        ]
    except csv.Error as exc:  # a field over csv's size limit, a stray quote
        raise DataError(f"{path} is not a readable CSV file: {exc}") from None
    if not rows:
        raise DataError(f"{path} has no values (only delimiters)")
    header: list[str] | None = None
    if _looks_like_header(rows[0][1], rows[1][1] if len(rows) > 1 else None):
        header = [c.strip() for c in rows[0][1]]
        rows = rows[1:]
    if not rows:
        raise DataError(f"{path} has a header but no data rows")
    width = len(rows[0][1])
    if width < 2:
        raise DataError(f"{path} has one column: it needs at least one feature and a target")
    for lineno, row in rows:
        if len(row) != width:
            raise DataError(f"{path}, line {lineno}: {len(row)} columns where line 1 has {width}")
    target = _target_column(opts.get("target"), header, width, path)
    columns = [[row[j].strip() for _, row in rows] for j in range(width)]
    features = []
    for j in range(width):
        if j == target:
            continue
        try:
            features.append(np.array([float(c) for c in columns[j]], dtype=np.float64))
        except ValueError:
            lineno, bad = next((ln, r[j]) for ln, r in rows if not is_number(r[j]))
            name = f"{header[j]!r} " if header else ""
            raise DataError(
                f"{path}, line {lineno}: column {name}(number {j + 1}) holds {bad!r}, "
                "not a number; dltui reads numeric features only"
            ) from None
    for k, j in enumerate(c for c in range(width) if c != target):
        _check_column(features[k], rows, j, header, path)
    # Checked in float64, then converted: a cast that overflows would warn on stderr.
    x = np.stack(features, axis=1).astype(np.float32)
    raw_y = columns[target]
    class_names = None
    task = task_option(opts)
    if all(is_number(c) for c in raw_y):
        y = np.array([float(c) for c in raw_y], dtype=np.float64)
        _check_column(y, rows, target, header, path)
    else:
        if task == "regression":
            bad = next(c for c in raw_y if not is_number(c))
            raise DataError(f"{path}: the target column holds text ({bad!r}), not numbers")
        # Text labels ("setosa", "cat"): classes in sorted order, the names kept for display.
        class_names = sorted(set(raw_y))
        index = {name: i for i, name in enumerate(class_names)}
        y = np.array([index[c] for c in raw_y], dtype=np.int64)
        task = "classification"
    tname = header[target] if header else f"column {target + 1}"
    desc = f"{path.name} (target {tname})"
    return bundle_from_tensors(x, y, task, desc, source, from_text=True, class_names=class_names)


_FLOAT32_MAX = float(np.finfo(np.float32).max)


def _check_column(
    values: np.ndarray,
    rows: list[tuple[int, list[str]]],
    j: int,
    header: list[str] | None,
    path: Path,
) -> None:
    """Refuse NaN, Inf and numbers beyond float32 (1e308 becomes inf when converted),
    naming the first one's line and column: training on them fails only after a run
    directory was created."""
    with np.errstate(over="ignore", invalid="ignore"):
        bad = ~np.isfinite(values) | (np.abs(values) > _FLOAT32_MAX)
    if not bad.any():
        return
    i = int(np.argmax(bad))
    lineno, row = rows[i]
    cell = row[j].strip()
    name = f"{header[j]!r} " if header else ""
    why = (
        "not a finite number"
        if not np.isfinite(float(cell))
        else "beyond float32's range (about ±3.4e38)"
    )
    raise DataError(
        f"{path}, line {lineno}, column {name}(number {j + 1}): {cell!r} is {why}; "
        f"{int(bad.sum())} such value(s) in the column: fill or drop them first"
    )


def _looks_like_header(first: list[str], second: list[str] | None) -> bool:
    """A header has text where the data has numbers (a text label column alone is not
    a header: "5.1,3.5,setosa" followed by "4.9,3.0,setosa")."""
    text = [not is_number(c) for c in first]
    if all(text) or second is None:
        return any(text)
    return any(t and j < len(second) and is_number(second[j]) for j, t in enumerate(text))


def is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _target_column(spec: str | None, header: list[str] | None, width: int, path: Path) -> int:
    if spec is None:
        return width - 1
    if header and spec in header:
        return header.index(spec)
    try:
        j = int(spec)
    except ValueError:
        names = ", ".join(header) if header else "(the file has no header: use an index)"
        raise DataError(f"{path.name} has no column {spec!r}: columns are {names}") from None
    if not -width <= j < width:
        raise DataError(f"target={spec}: {path.name} has {width} columns (0 to {width - 1})")
    return j % width
