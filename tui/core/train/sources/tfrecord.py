"""A vectorised reader of TFRecord event files for the common case: scalar summaries.

Why it exists: TensorBoard's own ``EventFileLoader`` (without TensorFlow installed, the
case here) checks every record's CRC-32C in a pure-Python loop over its bytes, parses it
into an ``Event`` message and runs two compatibility passes over it: about 250 µs per
scalar on the bench machine, so 4 minutes for a log of 10^6 scalars, against a budget of
2 s (DESIGN.md, Budgets). This module reads the same records with NumPy, a few
operations per *byte column* over all records at once:

1. **Framing** (:func:`frame`): each record is ``uint64 length, uint32 masked CRC of the
   length, data, uint32 masked CRC of the data``. Candidate record starts are the
   positions whose length has zero high bytes and whose data starts with ``0x09`` (an
   ``Event``'s ``wall_time``, field 1, serialised first); their header CRCs are checked
   vectorised, and a chain in which each record ends exactly where the next candidate
   starts is accepted as a whole. Anything else (a record whose data does not start
   with ``0x09``, a false candidate inside a payload) is walked one record at a time in
   Python, with the same checks, so the result is what a sequential reader finds.
2. **Data CRCs** are checked vectorised too (records grouped by length). The first bad
   record stops the file there, as TensorBoard's reader does.
3. **Decoding** (:func:`decode_simple_scalars`): an ``Event`` written by
   ``SummaryWriter.add_scalar`` (or TensorFlow's ``tf.summary.scalar`` v1) has one fixed
   layout: ``wall_time``, ``step`` (a varint, absent when 0), a ``summary`` holding one
   ``value`` with a ``tag`` and a ``simple_value``. Records matching it byte for byte,
   every nested length agreeing, are decoded vectorised; every other record (tensor-
   encoded scalars, histograms, graphs, the file-version event) is returned to the
   caller, which parses it with TensorBoard's protobuf classes.

A record still being written (shorter than its length says) ends a read; the next read
starts at it again.
"""

from __future__ import annotations

import struct

import numpy as np

__all__ = ["FrameResult", "decode_simple_scalars", "frame", "masked_crc32c"]

_HEADER = 12  # uint64 length + uint32 crc
_FOOTER = 4
_MAX_LEN = 1 << 24  # records longer than 16 MiB are walked sequentially (never scalars)
_CHUNK = 1 << 22  # positions scanned per step when looking for candidates (memory bound)


def _crc_table() -> np.ndarray:
    poly = np.uint32(0x82F63B78)  # CRC-32C (Castagnoli), reflected
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ poly, table >> 1).astype(np.uint32)
    return table


_TABLE = _crc_table()
_TABLE_LIST = _TABLE.tolist()


def _mask(crc: np.ndarray) -> np.ndarray:
    crc = crc.astype(np.uint32)
    return (((crc >> np.uint32(15)) | (crc << np.uint32(17))) + np.uint32(0xA282EAD8)).astype(
        np.uint32
    )


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked CRC-32C of ``data`` (the scalar version, for single records)."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE_LIST[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    crc ^= 0xFFFFFFFF
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _crc_columns(buf: np.ndarray, starts: np.ndarray, length: int) -> np.ndarray:
    """Masked CRC-32C of ``buf[s : s + length]`` for every ``s`` in ``starts``."""
    crc = np.full(starts.shape[0], 0xFFFFFFFF, dtype=np.uint32)
    for j in range(length):
        crc = _TABLE[(crc ^ buf[starts + j]) & np.uint32(0xFF)] ^ (crc >> np.uint32(8))
    return _mask(crc ^ np.uint32(0xFFFFFFFF))


def _u32_at(buf: np.ndarray, pos: np.ndarray) -> np.ndarray:
    out = np.zeros(pos.shape[0], dtype=np.uint32)
    for k in range(4):
        out |= buf[pos + k].astype(np.uint32) << np.uint32(8 * k)
    return out


def _candidates(buf: np.ndarray, start: int) -> np.ndarray:
    """Positions >= start that may begin a record (see the module docstring), with a
    valid header CRC."""
    n = buf.shape[0]
    last = n - _HEADER - 1  # the first data byte must be there to be checked
    found = []
    for lo in range(start, last + 1, _CHUNK):
        hi = min(lo + _CHUNK, last + 1)
        # the rarest test first over every position, the zero bytes only where it held
        pos = np.flatnonzero(buf[lo + _HEADER : hi + _HEADER] == 0x09) + lo
        m = buf[pos + 3] == 0
        for k in (4, 5, 6, 7):
            m &= buf[pos + k] == 0
        found.append(pos[m])
    cand = np.concatenate(found) if found else np.empty(0, np.int64)
    if cand.size == 0:
        return cand.astype(np.int64)
    cand = cand.astype(np.int64)
    ok = _crc_columns(buf, cand, 8) == _u32_at(buf, cand + 8)
    return cand[ok]


class FrameResult:
    """Records found by :func:`frame`: ``starts`` and ``lengths`` of their data,
    ``end`` the offset just after the last complete, valid record, ``error`` a message
    when a corrupt record stopped the walk (None at a clean end or a torn tail)."""

    __slots__ = ("end", "error", "lengths", "starts")

    def __init__(self, starts: np.ndarray, lengths: np.ndarray, end: int, error: str | None):
        self.starts, self.lengths, self.end, self.error = starts, lengths, end, error


def frame(buf: np.ndarray, start: int = 0, check_data_crc: bool = True) -> FrameResult:
    """Split ``buf`` (uint8) into records from ``start``; see the module docstring."""
    n = int(buf.shape[0])
    cand = _candidates(buf, start)
    lengths_c = np.zeros(cand.shape[0], dtype=np.int64)
    for k in range(3):  # the high bytes are zero by construction
        lengths_c |= buf[cand + k].astype(np.int64) << (8 * k)
    ends_c = cand + _HEADER + lengths_c + _FOOTER
    chain_ok = ends_c[:-1] == cand[1:]
    breaks = np.flatnonzero(~chain_ok)  # index i: candidate i's end is not candidate i+1
    raw = buf.tobytes() if cand.shape[0] < 2 else None  # only the slow walk needs bytes

    run_starts: list[np.ndarray] = []
    run_lengths: list[np.ndarray] = []
    seq_starts: list[int] = []
    seq_lengths: list[int] = []
    pos, error = start, None
    while pos < n:
        i = int(np.searchsorted(cand, pos))
        if i < cand.shape[0] and cand[i] == pos:
            b = int(np.searchsorted(breaks, i))
            j = int(breaks[b]) if b < breaks.shape[0] else cand.shape[0] - 1
            # candidates i..j chain; the last one may run past the buffer (torn)
            if ends_c[j] > n:
                j -= 1
                if j < i:
                    break
            run_starts.append(cand[i : j + 1] + _HEADER)
            run_lengths.append(lengths_c[i : j + 1])
            pos = int(ends_c[j])
            continue
        # one record the slow way
        if pos + _HEADER > n:
            break
        if raw is None:
            raw = buf.tobytes()
        header = raw[pos : pos + 8]
        (length,) = struct.unpack("<Q", header)
        (hcrc,) = struct.unpack("<I", raw[pos + 8 : pos + 12])
        if masked_crc32c(header) != hcrc:
            error = f"corrupt record header at byte {pos}"
            break
        if pos + _HEADER + length + _FOOTER > n:
            break  # being written
        seq_starts.append(pos + _HEADER)
        seq_lengths.append(length)
        pos += _HEADER + length + _FOOTER

    parts_s = [*run_starts, np.asarray(seq_starts, dtype=np.int64)]
    parts_l = [*run_lengths, np.asarray(seq_lengths, dtype=np.int64)]
    starts = np.concatenate(parts_s)
    lengths = np.concatenate(parts_l)
    if seq_starts and run_starts:
        order = np.argsort(starts, kind="stable")
        starts, lengths = starts[order], lengths[order]
    end = pos
    if check_data_crc and starts.shape[0]:
        bad = _bad_data_crc(buf, starts, lengths)
        if bad is not None:
            end = int(starts[bad]) - _HEADER
            error = f"corrupt record data at byte {end}"
            starts, lengths = starts[:bad], lengths[:bad]
    return FrameResult(starts, lengths, end, error)


def _bad_data_crc(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> int | None:
    """Index of the first record whose data CRC is wrong, or None."""
    first_bad = None
    for length in np.unique(lengths):
        idx = np.flatnonzero(lengths == length)
        s = starts[idx]
        if int(length) > 4096:  # rare big records: one at a time
            for k, pos in zip(idx, s, strict=True):
                data = buf[pos : pos + length].tobytes()
                want = int(_u32_at(buf, np.asarray([pos + length]))[0])
                if masked_crc32c(data) != want:
                    first_bad = int(k) if first_bad is None else min(first_bad, int(k))
                    break
            continue
        ok = _crc_columns(buf, s, int(length)) == _u32_at(buf, s + length)
        if not ok.all():
            k = int(idx[np.argmin(ok)])
            first_bad = k if first_bad is None else min(first_bad, k)
    return first_bad


def _varint(buf: np.ndarray, pos: np.ndarray, limit: np.ndarray):
    """Decode a varint at each ``pos`` (not reading at or past ``limit``): values
    (uint64), the position after each, and whether it was well formed."""
    value = np.zeros(pos.shape[0], dtype=np.uint64)
    n = np.zeros(pos.shape[0], dtype=np.int64)
    going = np.ones(pos.shape[0], dtype=bool)
    top = buf.shape[0] - 1
    for k in range(10):
        at = pos + k
        going &= at < limit
        byte = buf[np.minimum(at, top)].astype(np.uint64)
        value |= np.where(going, (byte & np.uint64(0x7F)) << np.uint64(7 * k), np.uint64(0))
        n += going
        going &= (byte & np.uint64(0x80)) != 0
        if not going.any():
            break  # steps are short varints: most calls stop after 1-3 bytes
    ok = ~going & (n > 0)
    # a varint ends at the first byte without the high bit: check we stopped on one
    last = buf[np.minimum(pos + np.maximum(n - 1, 0), top)]
    ok &= (last & 0x80) == 0
    return value, pos + n, ok


PAD = 256
"""Zero bytes :func:`decode_simple_scalars` needs after the data: it reads fields at
offsets computed from bytes not checked yet, up to ~170 bytes past a record's start, and
padding is cheaper than clipping every index."""


def decode_simple_scalars(buf: np.ndarray, starts: np.ndarray, lengths: np.ndarray):
    """Decode the records laid out as a one-value ``simple_value`` scalar event.

    ``buf`` must extend :data:`PAD` bytes past the last record (zeros).

    Returns ``(ok, tag_ids, tags, steps, times, values)``: ``ok`` marks the records
    decoded (the others are for the caller's protobuf parser), ``tag_ids`` index
    ``tags`` for each decoded record, the other arrays hold their fields.
    """
    s, end = starts, starts + lengths

    def at(p: np.ndarray) -> np.ndarray:
        return buf[p]

    ok = (lengths >= 9 + 2 + 2 + 2 + 5) & (at(s) == 0x09)
    wall = np.zeros((s.shape[0], 8), dtype=np.uint8)
    for k in range(8):
        wall[:, k] = at(s + 1 + k)
    times = wall.view("<f8").ravel().astype(np.float64)
    p = s + 9
    has_step = at(p) == 0x10
    step_u, after, vok = _varint(buf, p + 1, end)
    ok &= ~has_step | vok
    steps = np.where(has_step, step_u, np.uint64(0)).view(np.int64)
    q = np.where(has_step, after, p)
    slen = at(q + 1).astype(np.int64)
    ok &= (at(q) == 0x2A) & (slen < 0x80) & (q + 2 + slen == end)
    r = q + 2
    vlen = at(r + 1).astype(np.int64)
    ok &= (at(r) == 0x0A) & (vlen < 0x80) & (r + 2 + vlen == end)
    t = r + 2
    taglen = at(t + 1).astype(np.int64)
    u = t + 2 + taglen
    ok &= (at(t) == 0x0A) & (taglen < 0x80) & (at(u) == 0x15) & (u + 5 == end)
    fbytes = np.zeros((s.shape[0], 4), dtype=np.uint8)
    for k in range(4):
        fbytes[:, k] = at(u + 1 + k)
    values = fbytes.view("<f4").ravel().astype(np.float64)

    # tags: group the decoded records by their tag bytes (a hash, then checked)
    idx = np.flatnonzero(ok)
    tag_ids = np.full(s.shape[0], -1, dtype=np.int64)
    tags: list[str] = []
    if idx.size:
        ts, tl = t[idx] + 2, taglen[idx]
        h = np.full(idx.size, 1469598103934665603, dtype=np.uint64)
        prime = np.uint64(1099511628211)
        with np.errstate(over="ignore"):
            h ^= tl.astype(np.uint64)
            for j in range(int(tl.max())):
                live = tl > j
                h = np.where(live, (h ^ at(ts + j).astype(np.uint64)) * prime, h)
        uniq, first, inv = np.unique(h, return_index=True, return_inverse=True)
        inv = inv.ravel()
        for g in range(uniq.shape[0]):
            rep = int(first[g])
            raw = buf[ts[rep] : ts[rep] + tl[rep]].tobytes()
            members = np.flatnonzero(inv == g)
            same = tl[members] == tl[rep]
            for j, byte in enumerate(raw):
                same &= at(ts[members] + j) == byte
            try:
                name = raw.decode("utf-8")
            except UnicodeDecodeError:
                same[:] = False
                name = ""
            ok[idx[members[~same]]] = False  # a collision or bad text: protobuf decides
            tag_ids[idx[members[same]]] = len(tags)
            tags.append(name)
    return ok, tag_ids, tags, steps, times, values
