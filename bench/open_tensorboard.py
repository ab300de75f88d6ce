"""Opening a TensorBoard log of 10^6 scalars as a user does: ``dltui watch LOGDIR``.

Usage: .venv/bin/python bench/open_tensorboard.py [--scalars N] [--reps N] [--smoke]
       [--timeout S] [--json PATH]

The log (generated once into a cache folder, ``$DLTUI_BENCH_CACHE`` or
``/tmp/dltui-bench-cache``, reused while its parameters match) is what
``SummaryWriter.add_scalar`` writes: the file-version event, then ``Loss/train`` as
``simple_value`` at every step, and ``lr`` tensor-encoded (the ``scalars`` plugin's
metadata on its first value) every 1000 steps, 10^6 scalars in all. Writing 10^6 records
through ``SummaryWriter`` takes minutes (a pure-Python CRC per record), so the bench
writes the same bytes itself: the layout with NumPy, the CRCs with the reader's
vectorised CRC-32C, the non-simple events with TensorBoard's protobuf classes; a check
reads the first records back with TensorBoard's own loader.

Then, each in a fresh process, ``--reps`` times:

- ``dltui watch LOGDIR`` in a 120x40 pseudo-terminal (``bench/common.py``'s PtyApp):
  seconds from the launch to the first frame whose screen shows plot data (at least 20
  of plotext's glyphs: braille, quadrant blocks; nothing else on the monitor uses them),
  then to the runs list showing the last step (the whole log read); the app's peak RSS
  (``VmHWM`` of its process, read just before it is closed, a few seconds after).
- the baseline, terminalboard (a terminal TensorBoard viewer, ``pip install
  terminalboard``) on the same log dir in the same terminal size, the same way: first
  plot glyphs, ``VmHWM``. It is installed into the bench's own virtual environment,
  ``bench/.cache/venv-terminalboard`` (git-ignored; never a dltui dependency); when it
  cannot be installed, its row says why and the bench goes on.
- informative: the engine alone, headless (``discover``, ``poll()`` of every source
  until its backlog is read into compact arrays, 120-column min/max downsampling), time
  and peak RSS.

Goals (DESIGN.md, budgets): the first plot within 2 s, peak RSS within 150 MB.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    APP_ROOT,
    PEAK_RSS,
    PLOT_GLYPHS,
    PYTHON,
    ROOT,
    Figure,
    PtyApp,
    dltui,
    goal_at_most,
    install_sigterm_handler,
    log,
    median,
    print_table,
    workspace,
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
import numpy as np
total = 0
for src in discover([sys.argv[1]]):
    tags = {}
    while True:  # a big log is read a slice per poll (src.backlog)
        for tag, pts in src.poll().items():
            total += len(pts)
            tags.setdefault(tag, []).append(pts)
        if not src.backlog:
            break
    for tag, parts in tags.items():
        steps = np.concatenate([p.steps for p in parts]).astype(float)
        x, y = downsample_minmax(steps, np.concatenate([p.values for p in parts]), WIDTH)
    assert src.error is None, src.error
t2 = time.perf_counter()
rss = hwm()
print(json.dumps({"total": t2 - t0, "open": t2 - t1, "scalars": total,
                  "peak_rss_mb": rss, "rss_after_imports_mb": rss0}))
"""
)


TERMINALBOARD_VENV = ROOT / "bench" / ".cache" / "venv-terminalboard"
MIN_GLYPHS = 20  # plot cells on screen that say "the plot is drawn", not an axis or frame


def run_child(code: str, *args: str) -> dict:
    out = subprocess.run(
        [PYTHON, "-c", code, *args], capture_output=True, text=True, timeout=900, cwd=APP_ROOT
    )
    if out.returncode != 0:
        raise RuntimeError(f"child failed ({out.returncode}): {out.stderr.strip()[-800:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def terminalboard() -> tuple[Path | None, str]:
    """The terminalboard executable in the bench's own venv (made and filled on first
    use), or None and why it is not there."""
    exe = TERMINALBOARD_VENV / "bin" / "terminalboard"
    pip = TERMINALBOARD_VENV / "bin" / "pip"
    if exe.exists():
        return exe, ""
    log(f"installing terminalboard into {TERMINALBOARD_VENV} (once)")
    try:
        subprocess.run(
            [sys.executable, "-m", "venv", str(TERMINALBOARD_VENV)],
            check=True,
            capture_output=True,
            timeout=300,
        )
        subprocess.run(
            # plotext 6 removed the API terminalboard 0.5 calls (clear_figure): pin 5.x.
            [str(pip), "install", "-q", "terminalboard", "plotext<6"],
            check=True,
            capture_output=True,
            text=True,
            timeout=600,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        err = getattr(exc, "stderr", "") or str(exc)
        why = (err.strip().splitlines() or [str(exc)])[-1][:160]
        return None, f"terminalboard could not be installed: {why}"
    return (exe, "") if exe.exists() else (None, "terminalboard installed no executable")


def _plot_shown(app: PtyApp) -> bool:
    return len(PLOT_GLYPHS.findall(app.screen_text())) >= MIN_GLYPHS


def watch_once(logdir: Path, scalars: int, timeout: float) -> dict[str, float]:
    """``dltui watch LOGDIR`` at 120x40: seconds to the plot, to the last step, VmHWM."""
    last = f"{scalars}"  # lr's last step, the run's last (the runs list shows it)
    step_rx = re.compile(rf"run1 +tensorboard +\w+ +{last}\b")
    with workspace() as ws, dltui(ws, "watch", str(logdir), cols=WIDTH, rows=40) as app:
        t_plot = app.wait(_plot_shown, timeout, "the plot") - app.started
        rss_plot = app.vm_hwm_mb()
        try:
            t_all = app.wait_screen(step_rx.pattern, timeout) - app.started
        except TimeoutError:
            t_all = math.nan
        time.sleep(2.0)  # the drains after the last slice, the first table refreshes
        return {"plot": t_plot, "all": t_all, "hwm": app.vm_hwm_mb(), "hwm_plot": rss_plot}


def baseline_once(exe: Path, logdir: Path, timeout: float) -> dict[str, float]:
    """terminalboard on the same log dir at 120x40: seconds to the plot, VmHWM."""
    with tempfile.TemporaryDirectory(prefix="dltui-bench-tb-home-") as home:
        # Its saved view state goes to a throw-away HOME, and --reset-view ignores any.
        app = PtyApp(
            [str(exe), "--reset-view", str(logdir)],
            cols=WIDTH,
            rows=40,
            cwd=home,
            env={"HOME": home, "XDG_CONFIG_HOME": home, "XDG_STATE_HOME": home},
        )
        with app:
            t_plot = app.wait(_plot_shown, timeout, "terminalboard's plot") - app.started
            time.sleep(2.0)
            return {"plot": t_plot, "hwm": app.vm_hwm_mb()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scalars", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=180.0)
    ap.add_argument("--smoke", action="store_true", help="10^4 scalars, 1 repetition, no goals")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    install_sigterm_handler()
    if args.smoke:
        args.scalars, args.reps = 10_000, 1
    judge = not args.smoke

    t = time.perf_counter()
    logdir = make_log(args.scalars)
    size = sum(f.stat().st_size for f in logdir.rglob("events.out.tfevents.*"))
    log(f"log: {args.scalars:,} scalars, {size / 1e6:.0f} MB ({time.perf_counter() - t:.1f} s)")
    # The baseline is installed from the package index: not in --smoke (CI), which only
    # checks that the script still runs.
    exe, why = (None, "not in --smoke") if args.smoke else terminalboard()

    watches, bases, engines = [], [], []
    for rep in range(args.reps):
        load = os.getloadavg()[0]
        watches.append(watch_once(logdir, args.scalars, args.timeout))
        w = watches[-1]
        text = (
            f"  rep {rep + 1} (load {load:.2f}): dltui plot {w['plot']:.2f} s,"
            f" all {w['all']:.2f} s, {w['hwm']:.0f} MB peak ({w['hwm_plot']:.0f} at the plot)"
        )
        if exe is not None:
            try:
                bases.append(baseline_once(exe, logdir, args.timeout))
                text += f"; terminalboard {bases[-1]['plot']:.2f} s, {bases[-1]['hwm']:.0f} MB"
            except (TimeoutError, RuntimeError) as exc:
                exe, why = None, f"terminalboard failed: {str(exc).splitlines()[0][:160]}"
        engines.append(run_child(CASE_CODE, str(logdir), str(APP_ROOT), str(WIDTH)))
        c = engines[-1]
        if c["scalars"] != args.scalars:
            raise SystemExit(f"read {c['scalars']} scalars, expected {args.scalars}")
        log(text + f"; engine {c['total']:.2f} s, {c['peak_rss_mb']:.0f} MB")

    plot = median(w["plot"] for w in watches)
    every = median(w["all"] for w in watches)
    hwm = median(w["hwm"] for w in watches)
    b_plot = median(b["plot"] for b in bases)
    b_hwm = median(b["hwm"] for b in bases)
    label = "terminalboard" if bases else (why or "terminalboard not measured")
    n = f"{args.scalars:.0e}".replace("e+0", "e")
    load = f"load average {os.getloadavg()[0]:.2f}"
    figures = [
        Figure(
            f"TB {n} scalars: dltui watch to first plot",
            b_plot,
            plot,
            "s",
            label,
            "<= 2 s",
            goal_at_most(plot, 2.0, judge),
            note=f"whole log in the runs list after {every:.2f} s; {load}",
            group="tensorboard",
        ),
        Figure(
            f"TB {n} scalars: dltui watch peak RSS",
            b_hwm,
            hwm,
            "MB",
            label,
            "<= 150 MB",
            goal_at_most(hwm, 150.0, judge),
            note=f"{median(w['hwm_plot'] for w in watches):.0f} MB when the plot showed",
            group="tensorboard",
        ),
        Figure(
            f"TB {n} scalars: engine first poll (headless)",
            b_plot,
            median(c["total"] for c in engines),
            "s",
            label,
            note=f"imports included; peak RSS {median(c['peak_rss_mb'] for c in engines):.0f} MB",
            group="tensorboard",
        ),
    ]
    for f in figures:
        print(
            f"{f.name}: {f.measured:.2f} {f.unit} (baseline {f.baseline:.2f} {f.unit}, "
            f"ratio {f.ratio:.3f}, goal {f.goal or '-'})"
        )
    print_table(figures, title=f"open a TensorBoard log ({len(watches)} reps, {load})")
    write_figures(args.json, figures, scalars=args.scalars, log_mb=size / 1e6, baseline=label)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
