"""TensorBoard event files (``events.out.tfevents.*``): scalars, read incrementally.

A :class:`TensorBoardSource` is one run: a folder (every event file directly in it;
several writers share folders and new files appear, so the folder is listed again on
each poll) or one event file. Each file keeps its own reader and offset; a poll reads
what was appended since (at most :data:`POLL_BYTES` of a file; ``backlog`` says more is
there, and the follower polls again at once, so a big log's first points are drawn
early), and a record still being written is left for the next poll.

Scalars come in two encodings and both are read: ``value.simple_value`` (what
``torch.utils.tensorboard.SummaryWriter.add_scalar`` writes by default) and a
tensor-encoded value whose metadata names the ``scalars`` plugin (``new_style=True``,
TensorFlow 2's ``tf.summary.scalar``; the metadata may come only with a tag's first
value, so it is remembered per file).

Two readers give the same points:

- ``reader="fast"`` (the default): :mod:`tui.core.train.sources.tfrecord` frames,
  checks and decodes the common ``simple_value`` records with NumPy and hands every
  other record to TensorBoard's protobuf ``Event`` class: about 70x faster than the
  loader on 10^6 scalars (measured when it was written), the same points.
- ``reader="tensorboard"``: one ``EventFileLoader`` per file, ``Load()`` called again
  on each poll (it keeps its place and tolerates a torn record). The reference; tests
  compare the two.

Both need the ``tensorboard`` package, an optional extra; it is imported on first use,
and when it is missing ``error`` says (one line) how to install it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import numpy as np

from tui.core.train.sources.base import RunSource, Scalars, concat_scalars, newest_mtime
from tui.core.train.sources.tfrecord import PAD, decode_simple_scalars, frame

__all__ = [
    "EVENTS_PREFIX",
    "MISSING_TENSORBOARD",
    "TensorBoardMissing",
    "TensorBoardSource",
    "is_event_file",
    "require_tensorboard",
    "scalars_of_event",
]

EVENTS_PREFIX = "events.out.tfevents."
MISSING_TENSORBOARD = (
    "reading TensorBoard logs needs the tensorboard package: pip install 'dltui[tensorboard]'"
)
# Bytes read per step: bounds the decoder's temporaries (a dozen arrays per record)
# whatever the file size; 2 MiB is ~37,000 scalars, already a few vectorised steps (4 MiB
# put the peak of opening 10^6 scalars just over the 150 MB budget).
_READ_CHUNK = 2 << 20
# Bytes one poll reads at most: the rest of a big log is left for the next polls
# (``backlog``), so its first points are drawn while the rest is still being read.
POLL_BYTES = 8 << 20
_DATA_CLASS_SCALAR = 1  # SummaryMetadata.DataClass.DATA_CLASS_SCALAR


class TensorBoardMissing(ImportError):
    """The tensorboard package is not installed (the message says how to install it)."""


def require_tensorboard() -> Any:
    """Import and return ``tensorboard.compat.proto.event_pb2``, or raise
    :class:`TensorBoardMissing` with the one-line install hint."""
    try:
        from tensorboard.compat.proto import event_pb2
    except ImportError as exc:
        raise TensorBoardMissing(MISSING_TENSORBOARD) from exc
    return event_pb2


def is_event_file(name: str) -> bool:
    """Whether a file name is a TensorBoard event file (``.profile-empty`` is not one)."""
    return name.startswith(EVENTS_PREFIX) and not name.endswith(".profile-empty")


def scalars_of_event(event: Any, plugins: dict[str, str]) -> list[tuple[str, float]]:
    """``(tag, value)`` of every scalar in a parsed ``Event`` (either encoding).

    ``plugins`` maps tags to the plugin named by their metadata, filled as metadata is
    seen (TensorBoard writes it with a tag's first value only)."""
    if not event.HasField("summary"):
        return []
    out = []
    for v in event.summary.value:
        kind = v.WhichOneof("value")
        if kind == "simple_value":
            out.append((v.tag, float(v.simple_value)))
        elif kind == "tensor":
            if v.HasField("metadata"):
                md = v.metadata
                name = md.plugin_data.plugin_name
                if not name and md.data_class == _DATA_CLASS_SCALAR:
                    name = "scalars"
                if name:
                    plugins[v.tag] = name
            if plugins.get(v.tag) != "scalars":
                continue
            value = _tensor_scalar(v.tensor)
            if value is not None:
                out.append((v.tag, value))
    return out


# TensorProto dtype -> (NumPy dtype of tensor_content, the repeated field of the values)
_DTYPES: dict[int, tuple[str, str]] = {
    1: ("<f4", "float_val"),  # DT_FLOAT
    2: ("<f8", "double_val"),  # DT_DOUBLE
    3: ("<i4", "int_val"),  # DT_INT32
    4: ("u1", "int_val"),  # DT_UINT8
    5: ("<i2", "int_val"),  # DT_INT16
    6: ("i1", "int_val"),  # DT_INT8
    9: ("<i8", "int64_val"),  # DT_INT64
    10: ("?", "bool_val"),  # DT_BOOL
    19: ("<f2", "half_val"),  # DT_HALF (half_val holds the bits)
}


def _tensor_scalar(tensor: Any) -> float | None:
    """The value of a one-element TensorProto, or None.

    The usual dtypes are decoded here: ``tensor_util.make_ndarray`` would do it too, but
    importing ``tensor_util`` loads TensorBoard's TensorFlow stub, seconds on a busy
    machine, which the first plot would wait for. Other dtypes go through it."""
    dims = [d.size for d in tensor.tensor_shape.dim]
    if any(d != 1 for d in dims):
        return None
    known = _DTYPES.get(int(tensor.dtype))
    if known is None:
        return _tensor_scalar_slow(tensor)
    np_dtype, field = known
    if tensor.tensor_content:
        arr = np.frombuffer(tensor.tensor_content, dtype=np_dtype)
        return float(arr[0]) if arr.size == 1 else None
    vals = getattr(tensor, field)
    if len(vals) != 1:
        return None  # an empty or odd tensor (make_ndarray would broadcast): not a scalar
    if np_dtype == "<f2":
        return float(np.asarray([vals[0]], dtype=np.uint16).view(np.float16)[0])
    return float(np.asarray(vals[0], dtype=np_dtype))


def _tensor_scalar_slow(tensor: Any) -> float | None:
    from tensorboard.util import tensor_util

    try:
        arr = tensor_util.make_ndarray(tensor)
    except Exception:  # an unknown dtype or a malformed tensor: not a scalar we can show
        return None
    if arr.size != 1 or arr.dtype.kind not in "fiub":
        return None
    return float(arr.reshape(-1)[0])


class _Collector:
    """Points of one poll, per tag, in the order read (arrays from the fast path,
    lists from protobuf parsing)."""

    def __init__(self) -> None:
        self.parts: dict[str, list[Scalars]] = {}

    def add(self, tag: str, pts: Scalars) -> None:
        if len(pts):
            self.parts.setdefault(tag, []).append(pts)

    def result(self) -> dict[str, Scalars]:
        return {tag: concat_scalars(parts) for tag, parts in self.parts.items()}


class _FastFile:
    """One event file read with :func:`tfrecord.frame`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.seen_size = -1
        self.plugins: dict[str, str] = {}
        self.error: str | None = None
        self.more = False  # the last read stopped at its byte budget, not at the end

    def read(self, out: _Collector, event_pb2: Any, budget: int | None = None) -> None:
        budget = POLL_BYTES if budget is None else budget
        size = os.path.getsize(self.path)
        if (size == self.seen_size and not self.more) or size <= self.offset:
            self.more = False
            return  # nothing new (and a corrupt file is not re-read until it changes)
        self.seen_size = size
        self.more = False
        chunk = _READ_CHUNK
        stop = self.offset + budget
        with open(self.path, "rb") as fh:
            while self.offset < size:
                if self.offset >= stop:
                    self.more = True
                    return
                fh.seek(self.offset)
                # Read straight into the padded buffer: no second copy of the chunk.
                padded = np.zeros(min(chunk, size - self.offset) + PAD, dtype=np.uint8)
                got = fh.readinto(memoryview(padded)[: padded.shape[0] - PAD])
                if not got:
                    return
                n = got
                fr = frame(padded[:n])
                if fr.starts.shape[0]:
                    self._decode(padded, fr.starts, fr.lengths, out, event_pb2)
                self.offset += fr.end
                self.error = fr.error
                if fr.error is not None:
                    return
                if fr.end == 0:
                    if n < chunk:
                        return  # a record being written
                    chunk *= 2  # a record bigger than the chunk
                    continue
                chunk = _READ_CHUNK

    def _decode(
        self, buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray, out: _Collector, pb: Any
    ) -> None:
        ok, tag_ids, tags, steps, times, values = decode_simple_scalars(buf, starts, lengths)
        slow = np.flatnonzero(~ok)
        extra: dict[str, tuple[list[int], list[int], list[float], list[float]]] = {}
        for k in slow.tolist():
            s = int(starts[k])
            try:
                event = pb.Event.FromString(buf[s : s + int(lengths[k])].tobytes())
            except Exception:  # a record that is not an Event: TensorBoard skips it too
                continue
            for tag, value in scalars_of_event(event, self.plugins):
                lists = extra.setdefault(tag, ([], [], [], []))
                lists[0].append(k)
                lists[1].append(int(event.step))
                lists[2].append(float(event.wall_time))
                lists[3].append(value)
        for tag_id, tag in enumerate(tags):
            sel = np.flatnonzero(tag_ids == tag_id)
            pts = Scalars(steps[sel], times[sel], values[sel])
            if tag in extra:  # both paths met this tag: merge in file order
                order_k, st, tm, vl = extra.pop(tag)
                rec = np.concatenate([sel, np.asarray(order_k, dtype=np.int64)])
                allp = concat_scalars([pts, Scalars.from_lists(st, tm, vl)])
                o = np.argsort(rec, kind="stable")
                pts = Scalars(allp.steps[o], allp.times[o], allp.values[o])
            out.add(tag, pts)
        for tag, (_, st, tm, vl) in extra.items():
            out.add(tag, Scalars.from_lists(st, tm, vl))


class _LoaderFile:
    """One event file read with TensorBoard's ``EventFileLoader``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.loader: Any = None
        self.plugins: dict[str, str] = {}
        self.error: str | None = None

    def read(self, out: _Collector, event_pb2: Any) -> None:
        if self.loader is None:
            from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

            self.loader = EventFileLoader(str(self.path))
        lists: dict[str, tuple[list[int], list[float], list[float]]] = {}
        for event in self.loader.Load():
            for tag, value in scalars_of_event(event, self.plugins):
                st, tm, vl = lists.setdefault(tag, ([], [], []))
                st.append(int(event.step))
                tm.append(float(event.wall_time))
                vl.append(value)
        for tag, (st, tm, vl) in lists.items():
            out.add(tag, Scalars.from_lists(st, tm, vl))


class TensorBoardSource(RunSource):
    """A TensorBoard run: a folder of event files, or one event file (module docstring)."""

    kind = "tensorboard"

    def __init__(
        self,
        path: str | os.PathLike,
        name: str | None = None,
        reader: Literal["fast", "tensorboard"] = "fast",
    ) -> None:
        super().__init__(path, name)
        if reader not in ("fast", "tensorboard"):
            raise ValueError(f"reader must be 'fast' or 'tensorboard', not {reader!r}")
        self.reader = reader
        self._files: dict[Path, _FastFile | _LoaderFile] = {}

    def event_files(self) -> list[Path]:
        """The run's event files now, oldest name first (names start with a time)."""
        if self.path.is_file():
            return [self.path]
        try:
            with os.scandir(self.path) as it:
                found = [Path(e.path) for e in it if is_event_file(e.name) and e.is_file()]
        except OSError:
            return []
        return sorted(found)

    def poll(self) -> dict[str, Scalars]:
        try:
            pb = require_tensorboard()
        except TensorBoardMissing as exc:
            self.error = str(exc)
            return {}
        out = _Collector()
        errors = []
        for path in self.event_files():
            f = self._files.get(path)
            if f is None:
                cls = _FastFile if self.reader == "fast" else _LoaderFile
                f = self._files[path] = cls(path)
            try:
                f.read(out, pb)
            except Exception as exc:  # a vanished or unreadable file: try again next poll
                f.error = f"{type(exc).__name__}: {exc}".splitlines()[0]
            if f.error:
                errors.append(f"{path.name}: {f.error}")
        self.error = errors[0] if errors else None
        self.backlog = any(getattr(f, "more", False) for f in self._files.values())
        return self._note(out.result())

    @property
    def last_update(self) -> float | None:
        return newest_mtime(self._files or self.event_files())
