"""Bytes dltui writes to the terminal per second while a run trains, against the budget.

Usage: .venv/bin/python bench/terminal_bytes.py [--sizes 120x40,80x24] [--window S]
                                                [--reps N] [--smoke] [--json PATH]

The app runs in a pseudo-terminal of each size (``bench/common.py``: a terminal that
answers the synchronized-output query, so every frame is bracketed and counted), in a
fresh temporary workspace. A run is started by keys as a user would: F4 then ``s`` with
the default settings first (whether that trains is reported); the measured run is then
started from the form with enough epochs to outlast the measurement, on the default
model if it trained, else on a small MLP typed into the REPL
(``net = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 2))``, model field
``net``), on the default data (two spirals).

After a warm-up, windows of ``--window`` seconds alternate between the monitor shown
(F4) and the REPL shown (F2), ``--reps`` of each, with a settling pause after each switch
that is not counted (the switch repaints the whole screen once). Per window: every byte
read from the terminal, the frames, and the frames that drew plot data (plotext's
braille / quadrant / dot glyphs: a plot repaint). The figures are medians over windows.

Baselines are the budgets of DESIGN.md (KB = 1000 bytes): 4 KB/s with the monitor shown
and the plot repainted at least once a second, 1 KB/s with another pane shown; the ratio
is measured / budget. "Plot repainted each second" holds when every whole second of
every monitor window saw at least one plot repaint. Repetitions stop early, after at
least one, once ``--budget`` seconds are spent at a size (a loaded machine).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    MONITOR_FOOTER,
    PLOT_GLYPHS,
    REPL_FOOTER,
    Figure,
    PtyApp,
    RunSetup,
    dltui,
    goal_at_most,
    install_sigterm_handler,
    log,
    machine_lines,
    median,
    print_table,
    segments,
    start_training,
    strip_escapes,
    timed_frames,
    wait_engine,
    wait_focus,
    workspace,
    write_figures,
)

MONITOR_BUDGET = 4000.0  # bytes per second
REPL_BUDGET = 1000.0


@dataclass
class Window:
    view: str
    seconds: float
    nbytes: int
    frames: int
    plot_frames: int
    seconds_with_plot: int
    whole_seconds: int
    still_running: bool
    rows_per_frame: float

    @property
    def rate(self) -> float:
        return self.nbytes / self.seconds if self.seconds else math.nan

    @property
    def plot_rate(self) -> float:
        return self.plot_frames / self.seconds if self.seconds else math.nan


def measure_window(app: PtyApp, view: str, seconds: float) -> Window:
    start = app.mark()
    time.sleep(seconds)
    end = app.mark()
    chunks = app.chunks_between(start, end)
    frames = timed_frames(chunks)
    plot_times = [t for t, data in frames if PLOT_GLYPHS.search(strip_escapes(data))]
    whole = int(end.t - start.t)
    with_plot = sum(
        1 for i in range(whole) if any(start.t + i <= t < start.t + i + 1 for t in plot_times)
    )
    flat = app.flat_screen()
    rows = [len({row for row, _ in segments(data)}) for _, data in frames]
    return Window(
        view=view,
        seconds=end.t - start.t,
        nbytes=end.nbytes - start.nbytes,
        frames=len(frames),
        plot_frames=len(plot_times),
        seconds_with_plot=with_plot,
        whole_seconds=whole,
        still_running="running" in flat,  # the progress text / the status line
        rows_per_frame=median(rows) if rows else math.nan,
    )


def switch(app: PtyApp, view: str, settle: float) -> None:
    if view == "monitor":
        app.send("f4")
        wait_focus(app, MONITOR_FOOTER)
    else:
        app.send("f2")
        wait_focus(app, REPL_FOOTER)
    time.sleep(settle)


def measure_size(
    cols: int,
    rows: int,
    window: float,
    reps: int,
    warmup: float,
    settle: float,
    epochs: int,
    try_default: bool,
    default_trains: bool | None,
    budget: float = math.inf,
) -> tuple[list[Window], RunSetup]:
    with workspace() as ws, dltui(ws, cols=cols, rows=rows) as app:
        wait_engine(app, 240)
        setup = start_training(app, epochs, try_default=try_default, default_trains=default_trains)
        log(f"  {cols}x{rows}: run started (model {setup.model}); warm-up {warmup:.0f} s")
        time.sleep(warmup)
        windows = []
        started = time.monotonic()
        for rep in range(reps):
            if rep and time.monotonic() - started > budget:
                log(f"  time budget spent: {rep} repetition(s)")
                break
            for view in ("monitor", "repl"):
                switch(app, view, settle)
                w = measure_window(app, view, window)
                windows.append(w)
                log(
                    f"  {cols}x{rows} {view:7} rep {rep + 1}: {w.rate / 1000:7.2f} KB/s, "
                    f"{w.frames / w.seconds:5.2f} frames/s, {w.plot_rate:5.2f} plot "
                    f"repaints/s{'' if w.still_running else '  (run no longer running!)'}"
                )
        return windows, setup


def figures_for(cols: int, rows: int, windows: list[Window], judge: bool) -> list[Figure]:
    mon = [w for w in windows if w.view == "monitor"]
    repl = [w for w in windows if w.view == "repl"]
    size = f"{cols}x{rows}"
    mon_rate = median(w.rate for w in mon)
    repl_rate = median(w.rate for w in repl)
    secs = sum(w.whole_seconds for w in mon)
    with_plot = sum(w.seconds_with_plot for w in mon)
    every_second = secs > 0 and with_plot == secs
    stale = any(not w.still_running for w in windows)
    note_stale = "; the run had stopped in some window" if stale else ""
    mon_frames = median(w.frames / w.seconds for w in mon)
    repl_frames = median(w.frames / w.seconds for w in repl)
    per_frame = mon_rate / mon_frames if mon_frames else math.nan
    figs = [
        Figure(
            f"terminal KB/s, monitor shown, {size}",
            MONITOR_BUDGET / 1000,
            mon_rate / 1000,
            "KB/s",
            "budget",
            "<= 1x budget, plot each second",
            (goal_at_most(mon_rate, MONITOR_BUDGET) and every_second) if judge else None,
            note=(
                f"{mon_frames:.1f} frames/s, {per_frame / 1000:.1f} KB and "
                f"{median(w.rows_per_frame for w in mon):.0f} of {rows} rows a frame{note_stale}"
            ),
            group="terminal bytes",
        ),
        Figure(
            f"plot repaints/s, monitor shown, {size}",
            1.0,
            median(w.plot_rate for w in mon),
            "/s",
            "1 a second",
            ">= 1 in every second",
            every_second if judge else None,
            note=f"{with_plot} of {secs} whole seconds had a plot repaint",
            group="terminal bytes",
        ),
        Figure(
            f"terminal KB/s, REPL shown, {size}",
            REPL_BUDGET / 1000,
            repl_rate / 1000,
            "KB/s",
            "budget",
            "<= 1x budget",
            goal_at_most(repl_rate, REPL_BUDGET, judge),
            note=f"{repl_frames:.1f} frames/s, {repl_rate / repl_frames / 1000:.1f} KB and "
            f"{median(w.rows_per_frame for w in repl):.0f} of {rows} rows a frame{note_stale}"
            if repl_frames
            else f"no frames{note_stale}",
            group="terminal bytes",
        ),
    ]
    return figs


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="120x40,80x24")
    ap.add_argument("--window", type=float, default=5.0, help="seconds per window (5)")
    ap.add_argument("--reps", type=int, default=3, help="windows per view and size (3)")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--settle", type=float, default=2.0, help="pause after a pane switch")
    ap.add_argument("--epochs", type=int, default=100_000)
    ap.add_argument(
        "--budget",
        type=float,
        default=150.0,
        help="seconds per size after which no further repetition starts (at least one runs)",
    )
    ap.add_argument("--smoke", action="store_true", help="2-s windows, 1 rep, no goals")
    ap.add_argument("--json", default=None, help="write the figures here (for run_all)")
    args = ap.parse_args()
    install_sigterm_handler()
    if args.smoke:
        args.window, args.reps, args.warmup, args.settle = 2.0, 1, 1.0, 1.0
    sizes = [tuple(int(v) for v in s.lower().split("x")) for s in args.sizes.split(",")]

    figures: list[Figure] = []
    first: RunSetup | None = None
    for i, (cols, rows) in enumerate(sizes):
        log(f"terminal bytes at {cols}x{rows}")
        windows, setup = measure_size(
            cols,
            rows,
            args.window,
            args.reps,
            args.warmup,
            args.settle,
            args.epochs,
            try_default=i == 0,
            default_trains=first.default_trains if first else None,
            budget=args.budget,
        )
        first = first or setup
        figures += figures_for(cols, rows, windows, judge=not args.smoke)

    assert first is not None
    default_note = (
        "F4 then s with the default settings trains"
        if first.default_trains
        else f"F4 then s with the default settings does NOT train: {first.default_message}"
    )
    print("\n".join(machine_lines()))
    print(f"first run: {default_note}")
    print(f"measured run: model {first.model}, data {first.data}, epochs {first.epochs}")
    print_table(figures, "terminal bytes while a run trains (medians over windows)")
    write_figures(
        args.json,
        figures,
        facts={"default_run_trains": first.default_trains, "default_message": default_note},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
