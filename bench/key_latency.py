"""Key-to-screen latency in the REPL while a run trains, against the same with no run.

Usage: .venv/bin/python bench/key_latency.py [--keys N] [--smoke] [--json PATH]

dltui runs in a 120x40 pseudo-terminal (``bench/common.py``). With the engine ready
and no run started (the baseline), then with a run training (started by keys as in
``bench/terminal_bytes.py``; the REPL shown again, F2), characters are typed into the
REPL input one at a time, as a typist would (50-100 ms apart, after the previous one
showed). Each key's latency runs from the write to the terminal to the arrival of the
output that shows it: the plain text the app writes after the key (escape sequences
removed) contains the key with the two characters typed before it. The typed text is a
comment (``# ...``) of uppercase letters whose every 3-letter run is unique in its block
and absent from the screen, so nothing else the app writes (status line, cursor blink)
can be mistaken for the echo. The input is cleared (ctrl+u) every 20 keys.

Figures: p50, p95 and max over the keys, training against idle; goals p95 <= 30 ms,
max <= 100 ms. A key not shown within 2 s counts as 2000 ms.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    REPL_FOOTER,
    Figure,
    PtyApp,
    dltui,
    goal_at_most,
    install_sigterm_handler,
    log,
    machine_lines,
    monitor_ready,
    percentile,
    print_table,
    start_training,
    wait_engine,
    wait_focus,
    workspace,
    write_figures,
)

LETTERS = "BDFGHJKMQVWXZ"
BLOCK = 20
MISS_S = 2.0


def block_text(rng: random.Random, n: int, forbidden: str) -> str:
    """``n`` letters whose 3-letter runs (with the ``# `` prefix) are unique and not in
    ``forbidden``."""
    while True:
        text = "".join(rng.choice(LETTERS) for _ in range(n))
        full = "# " + text
        grams = [full[i : i + 3] for i in range(len(full) - 2)]
        if len(set(grams)) == len(grams) and not any(g in forbidden for g in grams):
            return text


def type_measured(app: PtyApp, keys: int, rng: random.Random) -> list[float]:
    """Type ``keys`` characters into the focused REPL input; latencies in seconds."""
    latencies: list[float] = []
    while len(latencies) < keys:
        app.send("ctrl+u")
        time.sleep(0.4)
        n = min(BLOCK, keys - len(latencies))
        text = block_text(rng, n, app.screen_text())
        typed = "# "
        app.type(typed, gap=0.05)
        time.sleep(0.3)
        for ch in text:
            mark = app.mark()
            sent = app.send(ch)
            typed += ch
            try:
                shown = app.wait_screen_text(typed[-3:], mark, MISS_S)
                latencies.append(shown - sent)
            except TimeoutError:
                latencies.append(MISS_S)
            time.sleep(0.05 + 0.05 * rng.random())
    app.send("ctrl+u")
    # Wait for the input to be empty before the next key: a pane key (a priority
    # binding) sent right behind would move the focus before ctrl+u reaches the input's
    # own bindings, and the letters would stay in it.
    app.wait_screen(r"type Python here", 30)
    return latencies


def summary(lat: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in lat]
    return {
        "p50": percentile(ms, 50),
        "p95": percentile(ms, 95),
        "max": max(ms) if ms else float("nan"),
        "misses": sum(1 for v in lat if v >= MISS_S),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keys", type=int, default=100, help="keys per condition (100)")
    ap.add_argument("--cols", type=int, default=120)
    ap.add_argument("--rows", type=int, default=40)
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--smoke", action="store_true", help="10 keys, no goals")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    install_sigterm_handler()
    if args.smoke:
        args.keys, args.warmup = 10, 1.0
    rng = random.Random(0)

    with workspace() as ws, dltui(ws, cols=args.cols, rows=args.rows) as app:
        wait_engine(app, 240)
        monitor_ready(app, 240)  # the whole engine warm (builder, plot), nothing training
        app.send("f2")
        wait_focus(app, REPL_FOOTER)
        time.sleep(1.0)
        log(f"key latency: {args.keys} keys idle")
        idle = type_measured(app, args.keys, rng)
        setup = start_training(app, 100_000, try_default=False)
        app.send("f2")
        wait_focus(app, REPL_FOOTER)
        time.sleep(args.warmup)
        log(f"key latency: {args.keys} keys while training (model {setup.model})")
        busy = type_measured(app, args.keys, rng)
        running = "running" in app.flat_screen()

    judge = not args.smoke
    i, b = summary(idle), summary(busy)
    note = f"{args.keys} keys each; misses (> {MISS_S:.0f} s) idle {i['misses']}, "
    note += f"training {b['misses']}" + ("" if running else "; the run had stopped!")
    figures = [
        Figure(
            "key-to-screen p50, REPL, training",
            i["p50"],
            b["p50"],
            "ms",
            "idle",
            "-",
            None,
            group="key latency",
        ),
        Figure(
            "key-to-screen p95, REPL, training",
            i["p95"],
            b["p95"],
            "ms",
            "idle",
            "<= 30 ms",
            goal_at_most(b["p95"], 30.0, judge),
            group="key latency",
        ),
        Figure(
            "key-to-screen max, REPL, training",
            i["max"],
            b["max"],
            "ms",
            "idle",
            "<= 100 ms",
            goal_at_most(b["max"], 100.0, judge),
            note=note,
            group="key latency",
        ),
    ]
    print("\n".join(machine_lines()))
    print_table(figures, f"key-to-screen latency at {args.cols}x{args.rows}")
    write_figures(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
