"""Opening a TensorBoard log of 10^6 scalars: time and peak memory to the first plot.

Usage: .venv/bin/python bench/open_tensorboard.py [--scalars N] [--reps N] [--smoke]
       [--baseline-seconds S] [--json PATH]

The log (generated once into a cache folder under /tmp, reused while its parameters
match) is what ``SummaryWriter.add_scalar`` writes: the file-version event, then
``Loss/train`` as ``simple_value`` at every step, and ``lr`` tensor-encoded (the
``scalars`` plugin's metadata on its first value) every 1000 steps, 10^6 scalars in all.
Writing 10^6 records through ``SummaryWriter`` takes minutes (a pure-Python CRC per
record), so the bench writes the same bytes itself: the layout with NumPy, the CRCs with
the reader's vectorised CRC-32C, the non-simple events with TensorBoard's protobuf
classes; a check reads the first records back with TensorBoard's own loader.

Then, each in a fresh process (peak RSS: ``VmHWM``, else ``resource.getrusage``):

- case: ``discover([log dir])``, the first ``poll()`` of every source into compact
  arrays, and per-column min/max downsampling of every tag to 120 columns
  (``downsample_minmax``): what the monitor needs before it can draw the first plot.
  Timed from before the imports (``tui.core.train.sources``, NumPy, TensorBoard's
  protobuf classes) and from after them.
- baseline: a plain loop over ``EventFileLoader(path).Load()``, TensorBoard's own
  reader, on the same file. It reads about 4,000 records a second here, so it runs for
  ``--baseline-seconds`` and its full time is extrapolated from the records it read
  (marked ``extrapolated`` in the table).

terminalboard (the issue's other anchor) is not installed in this environment; its
published figure for the same size is 7.3 s and 538 MB.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    APP_ROOT,
    PEAK_RSS,
    PYTHON,
    Figure,
    goal_at_most,
    log,
    median,
    print_table,
    write_figures,
)

sys.path.insert(0, str(APP_ROOT))

import numpy as np

CACHE = Path(os.environ.get("DLTUI_BENCH_CACHE", "/tmp/dltui-bench-cache"))
LR_EVERY = 1000
WIDTH = 120


def _varint(v: int) -> bytes:
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        out.append(b | (0x80 if v else 0))
        if not v:
            return bytes(out)


def _frame_records(payloads: list[bytes]) -> bytes:
    from tui.core.train.sources.tfrecord import masked_crc32c

    out = bytearray()
    for p in payloads:
        header = len(p).to_bytes(8, "little")
        out += header + masked_crc32c(header).to_bytes(4, "little")
        out += p + masked_crc32c(p).to_bytes(4, "little")
    return bytes(out)


def _simple_block(tag: str, steps: np.ndarray, values: np.ndarray, t0: float) -> bytes:
    """Records of ``simple_value`` scalars with the same varint step length, vectorised."""
    from tui.core.train.sources import tfrecord

    n = steps.shape[0]
    tagb = tag.encode()
    vlen = 2 + len(tagb) + 5
    nb = len(_varint(int(steps[0])))
    cols = [np.full(n, 0x09, np.uint8)]
    wall = (t0 + steps * 0.01).astype("<f8").view(np.uint8).reshape(n, 8)
    cols += [wall[:, k] for k in range(8)]
    cols.append(np.full(n, 0x10, np.uint8))
    s = steps.astype(np.uint64)
    for k in range(nb):
        byte = (s >> np.uint64(7 * k)) & np.uint64(0x7F)
        if k < nb - 1:
            byte |= np.uint64(0x80)
        cols.append(byte.astype(np.uint8))
    fixed = bytes([0x2A, vlen + 2, 0x0A, vlen, 0x0A, len(tagb), *tagb, 0x15])
    cols += [np.full(n, b, np.uint8) for b in fixed]
    fv = values.astype("<f4").view(np.uint8).reshape(n, 4)
    cols += [fv[:, k] for k in range(4)]
    payload = np.stack(cols, axis=1)  # (n, L)
    length = payload.shape[1]
    rec = np.zeros((n, 12 + length + 4), np.uint8)
    rec[:, :8] = np.frombuffer(length.to_bytes(8, "little"), np.uint8)
    rec[:, 8:12] = np.frombuffer(
        tfrecord.masked_crc32c(length.to_bytes(8, "little")).to_bytes(4, "little"), np.uint8
    )
    rec[:, 12 : 12 + length] = payload
    flat = payload.ravel()
    crc = tfrecord._crc_columns(flat, np.arange(n, dtype=np.int64) * length, length)
    rec[:, 12 + length :] = crc.astype("<u4").view(np.uint8).reshape(n, 4)
    return rec.tobytes()


def make_log(scalars: int) -> Path:
    """The cached log dir for ``scalars`` scalars (written when missing)."""
    run = CACHE / f"tb-{scalars}" / "run1"
    done = run.parent / "complete"
    if done.exists():
        return run.parent
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.util import tensor_util

    run.mkdir(parents=True, exist_ok=True)
    for old in run.glob("events.out.tfevents.*"):
        old.unlink()
    n_lr = scalars // LR_EVERY
    n_train = scalars - n_lr
    t0 = 1.7e9
    steps = np.arange(1, n_train + 1, dtype=np.int64)
    rng = np.random.default_rng(0)
    values = 2.0 * np.exp(-steps / (n_train / 5)) + 0.1 + 0.05 * rng.standard_normal(n_train)
    path = run / "events.out.tfevents.1700000000.bench.1.0"
    with open(path, "wb") as fh:
        fh.write(
            _frame_records(
                [event_pb2.Event(wall_time=t0, file_version="brain.Event:2").SerializeToString()]
            )
        )
        lo = 0
        while lo < n_train:  # blocks of equal varint length
            nb = len(_varint(int(steps[lo])))
            hi = int(np.searchsorted(steps, 1 << (7 * nb)))
            fh.write(_simple_block("Loss/train", steps[lo:hi], values[lo:hi], t0))
            lo = hi
        payloads = []
        for i in range(n_lr):
            v = summary_pb2.Summary.Value(
                tag="lr", tensor=tensor_util.make_tensor_proto(1e-3 * 0.999**i)
            )
            if i == 0:
                v.metadata.plugin_data.plugin_name = "scalars"
            ev = event_pb2.Event(
                wall_time=t0 + i, step=(i + 1) * LR_EVERY, summary=summary_pb2.Summary(value=[v])
            )
            payloads.append(ev.SerializeToString())
        fh.write(_frame_records(payloads))
    _check(path)
    done.write_text("ok\n")
    return run.parent


def _check(path: Path) -> None:
    """TensorBoard's loader agrees with the generated bytes (the first records)."""
    from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

    seen = 0
    for _event in EventFileLoader(str(path)).Load():
        seen += 1
        if seen == 200:
            break
    if seen < 200:
        raise SystemExit(f"generated log unreadable by EventFileLoader ({seen} events)")


CASE_CODE = (
    PEAK_RSS
    + r"""
import json, resource, sys, time
hwm = peak_rss_mb
t0 = time.perf_counter()
WIDTH = int(sys.argv[3])
sys.path.insert(0, sys.argv[2])
from tui.core.train.series import downsample_minmax
from tui.core.train.sources import discover, require_tensorboard
require_tensorboard()
rss0 = hwm()
t1 = time.perf_counter()
total = 0
for src in discover([sys.argv[1]]):
    for tag, pts in src.poll().items():
        total += len(pts)
        x, y = downsample_minmax(pts.steps.astype(float), pts.values, WIDTH)
    assert src.error is None, src.error
t2 = time.perf_counter()
rss = hwm()
print(json.dumps({"total": t2 - t0, "open": t2 - t1, "scalars": total,
                  "peak_rss_mb": rss, "rss_after_imports_mb": rss0}))
"""
)

BASELINE_CODE = (
    PEAK_RSS
    + r"""
import glob, json, resource, sys, time
hwm = peak_rss_mb
from tensorboard.backend.event_processing.event_file_loader import EventFileLoader
limit = float(sys.argv[2])
t = time.perf_counter()
n, complete = 0, True
for f in sorted(glob.glob(sys.argv[1] + "/*/events.out.tfevents.*")):
    for event in EventFileLoader(f).Load():
        n += 1
        if n %% 256 == 0 and time.perf_counter() - t > limit:
            complete = False
            break
took = time.perf_counter() - t
rss = hwm()
print(json.dumps({"seconds": took, "records": n, "complete": complete, "peak_rss_mb": rss}))
""".replace("%%", "%")
)


def run_child(code: str, *args: str) -> dict:
    out = subprocess.run(
        [PYTHON, "-c", code, *args], capture_output=True, text=True, timeout=900, cwd=APP_ROOT
    )
    if out.returncode != 0:
        raise RuntimeError(f"child failed ({out.returncode}): {out.stderr.strip()[-800:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scalars", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--baseline-seconds", type=float, default=20.0)
    ap.add_argument("--smoke", action="store_true", help="10^4 scalars, 1 repetition, no goals")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    if args.smoke:
        args.scalars, args.reps, args.baseline_seconds = 10_000, 1, 2.0
    judge = not args.smoke

    t = time.perf_counter()
    logdir = make_log(args.scalars)
    size = sum(f.stat().st_size for f in logdir.rglob("events.out.tfevents.*"))
    log(f"log: {args.scalars:,} scalars, {size / 1e6:.0f} MB ({time.perf_counter() - t:.1f} s)")

    cases, bases = [], []
    for rep in range(args.reps):
        cases.append(run_child(CASE_CODE, str(logdir), str(APP_ROOT), str(WIDTH)))
        c = cases[-1]
        if c["scalars"] != args.scalars:
            raise SystemExit(f"read {c['scalars']} scalars, expected {args.scalars}")
        log(
            f"  rep {rep + 1}: first plot {c['total']:.2f} s ({c['open']:.2f} s after imports),"
            f" {c['peak_rss_mb']:.0f} MB peak"
        )
    bases.append(run_child(BASELINE_CODE, str(logdir), str(args.baseline_seconds)))
    b = bases[0]
    records = args.scalars + 1  # + the file-version event
    base_s = b["seconds"] * (records / b["records"]) if b["records"] else math.nan
    label = "EventFileLoader loop" + ("" if b["complete"] else " (extrapolated)")
    log(f"  baseline: {b['records']:,} records in {b['seconds']:.1f} s -> {base_s:.1f} s")

    total = median(c["total"] for c in cases)
    opened = median(c["open"] for c in cases)
    rss = median(c["peak_rss_mb"] for c in cases)
    rss0 = median(c["rss_after_imports_mb"] for c in cases)
    n = f"{args.scalars:.0e}".replace("e+0", "e")
    figures = [
        Figure(
            f"TB {n} scalars: first plot (process)",
            base_s,
            total,
            "s",
            label,
            "<= 2 s",
            goal_at_most(total, 2.0, judge),
            group="tensorboard",
        ),
        Figure(
            f"TB {n} scalars: open after imports", base_s, opened, "s", label, group="tensorboard"
        ),
        Figure(
            f"TB {n} scalars: peak RSS",
            b["peak_rss_mb"],
            rss,
            "MB",
            "EventFileLoader loop",
            "<= 150 MB",
            goal_at_most(rss, 150.0, judge),
            note=f"{rss0:.0f} MB after imports",
            group="tensorboard",
        ),
    ]
    for f in figures:
        print(
            f"{f.name}: {f.measured:.2f} {f.unit} (baseline {f.baseline:.2f} {f.unit}, "
            f"ratio {f.ratio:.3f}, goal {f.goal or '-'})"
        )
    print_table(figures, title="open a TensorBoard log")
    write_figures(args.json, figures, scalars=args.scalars, log_mb=size / 1e6)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
