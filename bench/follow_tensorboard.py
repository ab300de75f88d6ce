"""Following live TensorBoard runs with ``dltui watch``: latency, and 1 run against 20.

Usage: .venv/bin/python bench/follow_tensorboard.py [--points N] [--runs N] [--window S]
       [--smoke] [--json PATH]

Two measures, each with ``dltui watch LOGDIR`` in a 120x40 pseudo-terminal
(``bench/common.py``'s PtyApp):

- **latency**: a writer process runs ``torch.utils.tensorboard.SummaryWriter``
  (``flush_secs=1``) and, when told, logs one ``train/loss`` point and calls
  ``flush()``; it answers with the moment the flush returned (``time.monotonic``, one
  clock for every process). The bench then waits until the runs list shows that point:
  its step and its value, in the run's row. ``--points`` points, 0.3-0.7 s apart (so the
  writes do not fall in step with the app's polls); the median and the worst against
  the goal, within 1 s of the flush.
- **many runs**: one writer process appends a point to every run of a folder every half
  second (the records framed by the bench itself, no torch: the writer must not load the
  machine): ``run-00`` logs ``train/loss`` (the plotted tag, so the plot shows that run
  alone), the others ``val/loss``. Over ``--window`` seconds, with 1 run and with
  ``--runs`` runs: what the app writes to the terminal per second inside the plot's box
  (the plot's cost), all of it, frames per second, and the CPU time of the app's main
  (UI) thread per second (``/proc/PID/task/PID/stat``). The ratio of the plot's bytes,
  20 runs to 1, should be about 1: the runs list refreshes without redrawing the plot.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    APP_ROOT,
    PLOT_GLYPHS,
    PYTHON,
    Figure,
    PtyApp,
    dltui,
    goal_at_most,
    install_sigterm_handler,
    log,
    median,
    percentile,
    print_table,
    segments,
    timed_frames,
    workspace,
    write_figures,
)

sys.path.insert(0, str(APP_ROOT))

LATENCY_GOAL_S = 1.0

# The SummaryWriter a user's training script would run; one point per command.
TORCH_WRITER = r"""
import sys, time
from torch.utils.tensorboard import SummaryWriter
w = SummaryWriter(sys.argv[1], flush_secs=1)
for step in range(1, 4):
    w.add_scalar("train/loss", 1.0 / step, step)
w.flush()
print("ready", flush=True)
for line in sys.stdin:
    step, value = line.split()
    w.add_scalar("train/loss", float(value), int(step))
    w.flush()
    print(repr(time.monotonic()), flush=True)
w.close()
"""

# Many runs, one process: raw TFRecord framing with TensorBoard's protobuf classes.
MANY_WRITER = r"""
import os, sys, time
sys.path.insert(0, sys.argv[3])
from tensorboard.compat.proto import event_pb2, summary_pb2
from tui.core.train.sources.tfrecord import masked_crc32c

def record(ev):
    data = ev.SerializeToString()
    head = len(data).to_bytes(8, "little")
    return (head + masked_crc32c(head).to_bytes(4, "little") + data
            + masked_crc32c(data).to_bytes(4, "little"))

def scalar(tag, step, value):
    v = summary_pb2.Summary.Value(tag=tag, simple_value=value)
    return event_pb2.Event(wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=[v]))

root, n = sys.argv[1], int(sys.argv[2])
files = []
for i in range(n):
    d = os.path.join(root, f"run-{i:02d}")
    os.makedirs(d, exist_ok=True)
    fh = open(os.path.join(d, f"events.out.tfevents.{int(time.time())}.bench.{i}.0"), "ab")
    fh.write(record(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2")))
    files.append(fh)
step = 0
while True:
    step += 1
    for i, fh in enumerate(files):
        tag = "train/loss" if i == 0 else "val/loss"
        fh.write(record(scalar(tag, step, 1.0 / step + 0.01 * i)))
        fh.flush()
    if step == 3:
        print("ready", flush=True)
    time.sleep(0.5)
"""


def _plot_shown(app: PtyApp) -> bool:
    return len(PLOT_GLYPHS.findall(app.screen_text())) >= 3


def latency(points: int, timeout: float) -> list[float]:
    """Seconds from the writer's flush to the point in the runs list, per point."""
    from tui.core.text import number_text

    out = []
    with tempfile.TemporaryDirectory(prefix="dltui-bench-follow-") as tmp:
        logdir = Path(tmp) / "logs"
        run = logdir / "live"
        run.mkdir(parents=True)
        env = dict(os.environ, PYTHONPATH=str(APP_ROOT))
        writer = subprocess.Popen(
            [PYTHON, "-c", TORCH_WRITER, str(run)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert writer.stdin is not None and writer.stdout is not None
            if writer.stdout.readline().strip() != "ready":
                raise RuntimeError("the SummaryWriter process did not start")
            with workspace() as ws, dltui(ws, "watch", str(logdir), cols=120, rows=40) as app:
                app.wait(_plot_shown, timeout, "the plot")
                app.wait_screen(r"live +tensorboard +\w+ +3\b", timeout)
                for i in range(points):
                    step, value = 1000 + i, 0.3 + 0.0111 * (i + 1)
                    shown = re.compile(
                        rf"live +tensorboard +\w+ +{step} +{re.escape(number_text(value))}\b"
                    )
                    writer.stdin.write(f"{step} {value!r}\n")
                    writer.stdin.flush()
                    flushed = float(writer.stdout.readline())
                    seen = app.wait(
                        lambda a, rx=shown: any(rx.search(ln) for ln in a.screen().lines()),
                        timeout,
                        f"step {step}",
                        poll=0.01,
                    )
                    out.append(seen - flushed)
                    time.sleep(random.uniform(0.3, 0.7))
        finally:
            writer.kill()
            writer.wait()
    return out


def _thread_cpu(pid: int) -> float:
    """CPU seconds (user + system) of the process's main thread: the UI's event loop."""
    fields = Path(f"/proc/{pid}/task/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _plot_rows(app: PtyApp) -> tuple[int, int]:
    """1-based rows of the plot's box (its top and bottom border lines)."""
    lines = app.screen().lines()
    top = next(i for i, ln in enumerate(lines) if "┌" in ln)
    bottom = next(i for i, ln in enumerate(lines) if "└" in ln and i > top)
    return top + 1, bottom + 1


def many_runs(n: int, window: float, timeout: float) -> dict[str, float]:
    """Per second over ``window``: plot bytes, all bytes, frames, UI-thread CPU."""
    with tempfile.TemporaryDirectory(prefix="dltui-bench-many-") as tmp:
        logdir = Path(tmp) / "logs"
        logdir.mkdir()
        writer = subprocess.Popen(
            [PYTHON, "-c", MANY_WRITER, str(logdir), str(n), str(APP_ROOT)],
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert writer.stdout is not None
            if writer.stdout.readline().strip() != "ready":
                raise RuntimeError("the writer did not start")
            with workspace() as ws, dltui(ws, "watch", str(logdir), cols=120, rows=40) as app:
                app.wait(_plot_shown, timeout, "the plot")
                app.wait_screen(rf"watching {n} runs?\b", timeout)
                time.sleep(3.0)  # past the start-up redraws and the first table fills
                top, bottom = _plot_rows(app)
                mark, cpu0 = app.mark(), _thread_cpu(app.pid)
                time.sleep(window)
                end, cpu1 = app.mark(), _thread_cpu(app.pid)
                took = end.t - mark.t
                frames = timed_frames(app.chunks_between(mark, end))
                plot_chars = sum(
                    len(text.encode())
                    for _, frame in frames
                    for row, text in segments(frame)
                    if top <= row <= bottom
                )
                return {
                    "plot_bytes_s": plot_chars / took,
                    "bytes_s": (end.nbytes - mark.nbytes) / took,
                    "frames_s": (end.frames - mark.frames) / took,
                    "ui_cpu_s": (cpu1 - cpu0) / took,
                }
        finally:
            writer.kill()
            writer.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--points", type=int, default=10)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--window", type=float, default=10.0)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--smoke", action="store_true", help="3 points, 3-second windows, no goals")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    install_sigterm_handler()
    if args.smoke:
        args.points, args.window = 3, 3.0
    judge = not args.smoke

    load0 = os.getloadavg()[0]
    lat = latency(args.points, args.timeout)
    log(f"latency (load {load0:.2f}): " + ", ".join(f"{v:.2f}" for v in lat))
    load1 = os.getloadavg()[0]
    one = many_runs(1, args.window, args.timeout)
    many = many_runs(args.runs, args.window, args.timeout)
    for label, r in (("1 run", one), (f"{args.runs} runs", many)):
        log(
            f"{label} (load {load1:.2f}): plot {r['plot_bytes_s']:.0f} B/s, all "
            f"{r['bytes_s']:.0f} B/s, {r['frames_s']:.1f} frames/s, UI {r['ui_cpu_s']:.3f} s/s"
        )
    med, worst = median(lat), max(lat) if lat else math.nan
    group = "follow"
    figures = [
        Figure(
            "live SummaryWriter: flush to screen, median",
            LATENCY_GOAL_S,
            med,
            "s",
            "goal",
            "<= 1 s",
            goal_at_most(med, LATENCY_GOAL_S, judge),
            note=f"{len(lat)} points; p90 {percentile(lat, 90):.2f} s, max {worst:.2f} s; "
            f"load average {load0:.2f}",
            group=group,
        ),
        Figure(
            "live SummaryWriter: flush to screen, max",
            LATENCY_GOAL_S,
            worst,
            "s",
            "goal",
            "<= 1 s",
            goal_at_most(worst, LATENCY_GOAL_S, judge),
            group=group,
        ),
        Figure(
            f"{args.runs} live runs vs 1: plot text bytes/s",
            one["plot_bytes_s"],
            many["plot_bytes_s"],
            "B/s",
            "1 run",
            "ratio ~1",
            None,
            note=f"inside the plot's box, over {args.window:.0f} s; load average {load1:.2f}",
            group=group,
        ),
        Figure(
            f"{args.runs} live runs vs 1: all bytes/s",
            one["bytes_s"],
            many["bytes_s"],
            "B/s",
            "1 run",
            note="the runs list's cells included",
            group=group,
        ),
        Figure(
            f"{args.runs} live runs vs 1: frames/s",
            one["frames_s"],
            many["frames_s"],
            "",
            "1 run",
            group=group,
        ),
        Figure(
            f"{args.runs} live runs vs 1: UI-thread CPU",
            one["ui_cpu_s"],
            many["ui_cpu_s"],
            "s/s",
            "1 run",
            group=group,
        ),
    ]
    print_table(figures, title="following live TensorBoard runs")
    write_figures(args.json, figures, latencies=lat, one=one, many=many)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
