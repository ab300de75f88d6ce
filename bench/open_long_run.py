"""Opening a long finished run: reading 10^6 logged steps, and ``dltui watch`` of it.

Usage: .venv/bin/python bench/open_long_run.py [--steps N] [--reps N] [--budget S] [--smoke]
                                               [--json PATH]

A finished run directory is written with plain file writes in the run-directory format
(DESIGN.md): ``metrics.jsonl`` with ``--steps`` train/loss lines (a noisy decaying loss),
val/loss and val/accuracy once an epoch of 1000 steps, lr at the start and at each
decay; ``status.json`` finished; ``config.json``. Then, each in a fresh process:

- baseline: ``json.loads`` of every line in a plain loop (the least any reader of the
  format pays; it makes the ratios machine-independent);
- engine: what the monitor does to show the run, from ``tui.core``: a ``MetricsReader``
  reads the file and every point goes into the ``MetricSeries`` of its name. Time and
  the process's peak RSS (``VmHWM``: ``ru_maxrss`` would carry over the forked
  parent's), and the peak after the imports alone;
- sources: the readers behind ``dltui watch PATH...`` of any kind of run
  (``tui.core.train.sources``): discover the run, poll it until its backlog is read into
  per-tag arrays, reduce each tag to 120 columns (time and peak RSS);
- ``dltui watch RUN_DIR`` in a 120x40 pseudo-terminal: seconds from the launch to the
  first frame whose screen shows plot data (plotext's glyphs), to the progress text
  naming the last step, and the app process's peak RSS (``VmHWM``) once it shows.

The same watch of a 1000-step run gives the part that does not grow with the run
(start-up, torch import), next to a process that only imports torch (its time and
peak RSS: the floor under both goals while the app imports torch).

Goals: the plot within 2 s, peak RSS within 150 MB. The engine's reader modules are
found where they are (``tui.core.train.readers`` or ``runs``). Repetitions stop early,
after at least one, once ``--budget`` seconds are spent (a loaded machine).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import socket
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
    Figure,
    dltui,
    goal_at_most,
    install_sigterm_handler,
    log,
    machine_lines,
    median,
    print_table,
    workspace,
    write_figures,
)

STEPS_PER_EPOCH = 1000
TIME_BUDGET_S = 2.0
RSS_BUDGET_MB = 150.0


def write_run(run: Path, steps: int) -> int:
    """A finished run of ``steps`` train/loss points in ``run``; returns the file size."""
    import numpy as np

    run.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    t0 = 1_764_600_000.0
    k = np.arange(1, steps + 1, dtype=np.float64)
    loss = 2.0 * np.exp(-k / max(1.0, steps / 5)) + 0.1 + 0.05 * rng.standard_normal(steps)
    times = t0 + k * 0.004
    epochs = (k - 1) // STEPS_PER_EPOCH + 1
    head = '{"step":'
    best = math.inf
    size = 0
    with open(run / "metrics.jsonl", "w", encoding="utf-8") as fh:
        lines = [f'{{"step":0,"epoch":1,"time":{t0!r},"name":"lr","value":0.001}}\n']
        for s, e, t, v in zip(
            range(1, steps + 1), epochs.tolist(), times.tolist(), loss.tolist(), strict=True
        ):
            lines.append(
                f'{head}{s},"epoch":{e},"time":{t!r},"name":"train/loss","value":{v!r}}}\n'
            )
            if s % STEPS_PER_EPOCH == 0 or s == steps:
                val = v * 1.05
                best = min(best, val)
                acc = min(0.99, 0.5 + 0.5 * s / steps)
                for name, value in (("val/loss", val), ("val/accuracy", acc)):
                    lines.append(
                        f'{head}{s},"epoch":{e},"time":{t!r},"name":"{name}","value":{value!r}}}\n'
                    )
                if s % (50 * STEPS_PER_EPOCH) == 0:
                    lr = 0.001 * 0.5 ** (s // (50 * STEPS_PER_EPOCH))
                    lines.append(
                        f'{head}{s},"epoch":{e},"time":{t!r},"name":"lr","value":{lr!r}}}\n'
                    )
            if len(lines) >= 100_000:
                size += fh.write("".join(lines))
                lines.clear()
        size += fh.write("".join(lines))
    last_epoch = int(epochs[-1]) if steps else 0
    config = {
        "format": 1,
        "created": t0,
        "command": ["dltui", "train", "mlp.json", "--data", "spirals"],
        "spec": {
            "format": 1,
            "input_shape": [2],
            "layers": [
                {"type": "Linear", "in_features": "auto", "out_features": 32},
                {"type": "ReLU"},
                {"type": "Linear", "in_features": "auto", "out_features": 2},
            ],
        },
        "data": "spirals",
        "task": "classification",
        "num_classes": 2,
        "train": {
            "loss": "cross_entropy",
            "optimizer": "adam",
            "lr": 0.001,
            "batch_size": 64,
            "epochs": last_epoch,
            "val_split": 0.2,
            "seed": 0,
            "device": "cpu",
        },
    }
    status = {
        "state": "finished",
        "error": None,
        "updated": float(times[-1]) if steps else t0,
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": t0,
        "step": steps,
        "epoch": last_epoch,
        "epochs": last_epoch,
        "steps_per_epoch": STEPS_PER_EPOCH,
        "best_val_loss": best if math.isfinite(best) else None,
    }
    (run / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (run / "status.json").write_text(json.dumps(status, indent=2) + "\n")
    return size


BASELINE_CODE = (
    PEAK_RSS
    + r"""
import json, sys, time
path = sys.argv[1]
t = time.perf_counter()
n = 0
with open(path, "rb") as fh:
    for line in fh:
        json.loads(line)
        n += 1
took = time.perf_counter() - t
print(json.dumps({"seconds": took, "lines": n, "peak_rss_mb": peak_rss_mb()}))
"""
)

ENGINE_CODE = (
    PEAK_RSS
    + r"""
import importlib, json, sys, time
sys.path.insert(0, sys.argv[2])

def find(name, modules):
    for m in modules:
        try:
            obj = getattr(importlib.import_module(m), name, None)
        except ImportError:
            continue
        if obj is not None:
            return obj, m
    raise SystemExit(f"{name} not found in any of {modules}")

MetricsReader, reader_mod = find("MetricsReader", [
    "tui.core.train.readers", "tui.core.train.runs", "tui.core.train.sources.dltui",
])
MetricSeries, series_mod = find("MetricSeries", ["tui.core.train.series"])
rss0 = peak_rss_mb()
t = time.perf_counter()
reader = MetricsReader(sys.argv[1])
series = {}
count = 0
for p in reader.read():
    s = series.get(p.name)
    if s is None:
        s = series[p.name] = MetricSeries(p.name, 0.6)
    s.append_point(p)
    count += 1
took = time.perf_counter() - t
print(json.dumps({"seconds": took, "points": count, "peak_rss_mb": peak_rss_mb(),
                  "rss_after_imports_mb": rss0, "reader": reader_mod}))
"""
)


# The run-sources path (``dltui watch PATH...`` of any run kind): discover the run, poll
# it until its backlog is read into per-tag arrays, reduce each tag to 120 columns.
SOURCES_CODE = (
    PEAK_RSS
    + r"""
import json, sys, time
sys.path.insert(0, sys.argv[2])
import numpy as np
from tui.core.train.series import downsample_minmax
from tui.core.train.sources import discover
rss0 = peak_rss_mb()
t = time.perf_counter()
count = 0
for src in discover([sys.argv[1]]):
    tags = {}
    while True:
        got = src.poll()
        n = sum(len(v.steps) for v in got.values())
        if not n:
            break
        count += n
        for tag, pts in got.items():
            tags.setdefault(tag, []).append(pts)
    for tag, parts in tags.items():
        steps = np.concatenate([p.steps for p in parts]).astype(float)
        values = np.concatenate([p.values for p in parts])
        downsample_minmax(steps, values, 120)
took = time.perf_counter() - t
print(json.dumps({"seconds": took, "points": count, "peak_rss_mb": peak_rss_mb(),
                  "rss_after_imports_mb": rss0, "reader": "tui.core.train.sources"}))
"""
)


def run_child(code: str, *args: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(APP_ROOT))
    out = subprocess.run(
        [PYTHON, "-c", code, *args], capture_output=True, text=True, env=env, timeout=900
    )
    if out.returncode != 0:
        raise RuntimeError(f"child failed ({out.returncode}): {out.stderr.strip()[-800:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


TORCH_CODE = PEAK_RSS + (
    "import time; t = time.perf_counter(); import torch; "
    "print(time.perf_counter() - t, peak_rss_mb())"
)


def import_torch() -> tuple[float, float]:
    """Seconds and peak RSS (MB) of a process that only imports torch."""
    out = subprocess.run(
        [PYTHON, "-c", TORCH_CODE], check=True, timeout=300, capture_output=True, text=True
    )
    seconds, rss = out.stdout.split()
    return float(seconds), float(rss)


def last_step_pattern(steps: int) -> re.Pattern[str]:
    forms = {str(steps), f"{steps:,}"}
    if steps >= 1000:
        forms |= {f"{steps / 1000:g}k", f"{steps / 1000:.1f}k"}
    if steps >= 1_000_000:
        forms |= {f"{steps / 1e6:g}M", f"{steps / 1e6:.1f}M"}
    alternatives = "|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True))
    return re.compile(rf"step (?:{alternatives})(?![\d,.])")


def watch_once(run: Path, steps: int, timeout: float) -> dict[str, float]:
    """Launch ``dltui watch RUN`` at 120x40; seconds to the plot and to the last step."""
    step_rx = last_step_pattern(steps)
    with workspace() as ws, dltui(ws, "watch", str(run), cols=120, rows=40) as app:

        def plot_shown(a) -> bool:
            return len(PLOT_GLYPHS.findall(a.screen_text())) >= 20

        t_plot = app.wait(plot_shown, timeout, "the plot") - app.started
        try:
            t_step = (
                app.wait(lambda a: bool(step_rx.search(a.flat_screen())), timeout, "the last step")
                - app.started
            )
        except TimeoutError:
            t_step = math.nan
        time.sleep(0.5)
        hwm = app.vm_hwm_mb()
        first = app.chunks[0].t - app.started if app.chunks else math.nan
    return {"plot": t_plot, "last_step": t_step, "first_output": first, "hwm": hwm}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=300.0)
    ap.add_argument(
        "--budget",
        type=float,
        default=240.0,
        help="seconds after which no further repetition starts (at least one runs)",
    )
    ap.add_argument("--smoke", action="store_true", help="10^4 steps, 1 repetition, no goals")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    install_sigterm_handler()
    if args.smoke:
        args.steps, args.reps = 10_000, 1
    judge = not args.smoke

    with tempfile.TemporaryDirectory(prefix="dltui-bench-run-") as tmp:
        run = Path(tmp) / "runs" / "long-run"
        t = time.perf_counter()
        size = write_run(run, args.steps)
        log(f"wrote {args.steps:,} steps ({size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
        short = Path(tmp) / "runs" / "short-run"
        write_run(short, 1000)
        metrics = str(run / "metrics.jsonl")

        base, eng, src = [], [], []
        src_error = ""
        started = time.monotonic()
        for rep in range(args.reps):
            if rep and time.monotonic() - started > args.budget / 2:
                log(f"  time budget spent: {rep} repetition(s) of the reads")
                break
            base.append(run_child(BASELINE_CODE, metrics))
            eng.append(run_child(ENGINE_CODE, metrics, str(APP_ROOT)))
            if not src_error:
                try:
                    src.append(run_child(SOURCES_CODE, str(run), str(APP_ROOT)))
                except RuntimeError as exc:
                    src_error = str(exc).splitlines()[-1][:200]
            src_text = f", sources {src[-1]['seconds']:.2f} s" if src and not src_error else ""
            log(
                f"  rep {rep + 1}: json loop {base[-1]['seconds']:.2f} s, engine "
                f"{eng[-1]['seconds']:.2f} s, {eng[-1]['peak_rss_mb']:.0f} MB peak{src_text}"
            )
        watches, shorts, torch_times = [], [], []
        started = time.monotonic()
        for rep in range(args.reps):
            if rep and time.monotonic() - started > args.budget / 2:
                log(f"  time budget spent: {rep} repetition(s) of the watch")
                break
            watches.append(watch_once(run, args.steps, args.timeout))
            if not args.smoke:  # informative only: one launch less in CI
                shorts.append(watch_once(short, 1000, args.timeout))
            torch_times.append(import_torch())
            w = watches[-1]
            short_text = f"; 10^3 steps: plot {shorts[-1]['plot']:.2f} s" if shorts else ""
            log(
                f"  rep {rep + 1}: watch plot {w['plot']:.2f} s, last step {w['last_step']:.2f} s"
                f", VmHWM {w['hwm']:.0f} MB{short_text}"
            )

    b_s = median(r["seconds"] for r in base)
    e_s = median(r["seconds"] for r in eng)
    e_rss = median(r["peak_rss_mb"] for r in eng)
    e_rss0 = median(r["rss_after_imports_mb"] for r in eng)
    w_plot = median(w["plot"] for w in watches)
    w_step = median(w["last_step"] for w in watches)
    w_hwm = median(w["hwm"] for w in watches)
    s_plot = median(w["plot"] for w in shorts)
    torch_s = median(t for t, _ in torch_times)
    torch_rss = median(r for _, r in torch_times)
    label = f"{args.steps:,} steps"
    figures = [
        Figure(
            f"engine read of {label}: time",
            b_s,
            e_s,
            "s",
            "json.loads loop",
            "-",
            None,
            note=f"{eng[0].get('points', 0):,} points via {eng[0].get('reader', '?')}",
            group="long run",
        ),
        Figure(
            f"engine read of {label}: peak RSS",
            RSS_BUDGET_MB,
            e_rss,
            "MB",
            "budget",
            "<= 150 MB",
            goal_at_most(e_rss, RSS_BUDGET_MB, judge),
            note=f"{e_rss0:.0f} MB after the imports; the json loop peaks at "
            f"{median(r['peak_rss_mb'] for r in base):.0f} MB",
            group="long run",
        ),
        Figure(
            f"sources read of {label}: time",
            b_s,
            median(r["seconds"] for r in src),
            "s",
            "json.loads loop",
            "-",
            None,
            note=(
                f"DltuiSource polls into per-tag arrays, then 120 columns; peak RSS "
                f"{median(r['peak_rss_mb'] for r in src):.0f} MB"
                if src
                else f"not measured: {src_error or 'no run source reader'}"
            ),
            group="long run",
        ),
        Figure(
            f"dltui watch of {label}: time to plot",
            b_s,
            w_plot,
            "s",
            "json.loads loop",
            "<= 2 s",
            goal_at_most(w_plot, TIME_BUDGET_S, judge),
            note=f"the last step shown after {w_step:.2f} s; first output after "
            f"{median(w['first_output'] for w in watches):.2f} s",
            group="long run",
        ),
        Figure(
            f"dltui watch of {label}: peak RSS",
            RSS_BUDGET_MB,
            w_hwm,
            "MB",
            "budget",
            "<= 150 MB",
            goal_at_most(w_hwm, RSS_BUDGET_MB, judge),
            note=(
                f"a 1,000-step run peaks at {median(w['hwm'] for w in shorts):.0f} MB; "
                if shorts
                else ""
            )
            + f"`import torch` alone peaks at {torch_rss:.0f} MB",
            group="long run",
        ),
        Figure(
            "dltui watch of 1,000 steps: time to plot",
            torch_s,
            s_plot,
            "s",
            "import torch",
            "-",
            None,
            note="the part of the time to plot that does not grow with the run"
            if shorts
            else "not measured in smoke mode",
            group="long run",
        ),
    ]
    print("\n".join(machine_lines()))
    reps = f"medians of {len(eng)} read(s) and {len(watches)} watch(es)"
    print_table(figures, f"opening a finished run ({label}, {reps})")
    write_figures(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
