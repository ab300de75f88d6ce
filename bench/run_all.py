"""Run every benchmark and print one table of every figure, with the machine described.

Usage: .venv/bin/python bench/run_all.py [--smoke] [--only a,b] [--json PATH] [--verbose]

Each script runs in its own process (``make bench`` runs this file) and writes its
figures as JSON (``--json``, ``bench/common.py``); every figure is a ratio against a
baseline measured in the same run (a bare loop, ``import torch``, a real forward, the
idle latency, a byte budget), a median over repetitions. The table is printed at the
end; a script that fails or runs past its time limit shows as a row saying so, the
others still report.

``--smoke`` (CI): tiny sizes (10^4 logged steps, 2-second windows, 10 keys, 1-second
runs, one repetition), no goals judged; it is there so the scripts cannot rot, and
exits non-zero only when a script fails. The full run keeps the raw 10^6-point plotext
build out (about a minute a round; ``bench/plot_downsample.py`` alone measures it).

Exit code: 0 when every script ran, 1 otherwise (figures that miss a goal do not fail).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    PYTHON,
    ROOT,
    Figure,
    install_sigterm_handler,
    log,
    machine_lines,
    print_table,
    read_figures,
)

BENCH = Path(__file__).resolve().parent

# name -> (script, full arguments, smoke arguments, time limit full / smoke in seconds).
# The limits only catch a hang; they are generous, a loaded machine runs several times
# slower (the long scripts also stop repeating once their own --budget is spent).
SCRIPTS: dict[str, tuple[str, list[str], list[str], float, float]] = {
    "startup": ("startup.py", ["--runs", "5"], ["--runs", "1"], 600, 300),
    "propagation": ("propagation.py", ["--rounds", "9"], ["--rounds", "1"], 600, 300),
    "plot_downsample": (
        "plot_downsample.py",
        ["--rounds", "3", "--sizes", "1000,100000"],
        ["--rounds", "1", "--sizes", "1000,10000"],
        600,
        300,
    ),
    "terminal_bytes": ("terminal_bytes.py", [], ["--smoke"], 1500, 600),
    "key_latency": ("key_latency.py", [], ["--smoke"], 900, 600),
    "open_long_run": ("open_long_run.py", [], ["--smoke"], 1500, 600),
    "open_tensorboard": ("open_tensorboard.py", [], ["--smoke"], 900, 300),
    "follow_tensorboard": ("follow_tensorboard.py", [], ["--smoke"], 600, 300),
    "train_throughput": ("train_throughput.py", ["--seconds", "5"], ["--smoke"], 2400, 900),
}


def run_script(
    name: str, smoke: bool, tmp: Path, verbose: bool
) -> tuple[list[Figure], dict, str | None, float]:
    """Run one script; (figures, facts, error or None, seconds)."""
    script, full, small, limit_full, limit_smoke = SCRIPTS[name]
    out = tmp / f"{name}.json"
    argv = [PYTHON, str(BENCH / script), *(small if smoke else full), "--json", str(out)]
    limit = limit_smoke if smoke else limit_full
    log(f"== {name}: {' '.join(argv[1:])}")
    t0 = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=None,  # progress goes straight to our stderr
        text=True,
        start_new_session=True,  # its children (pty apps) go with it on a timeout
    )
    error = None
    try:
        stdout, _ = proc.communicate(timeout=limit)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 15)
        try:
            stdout, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            stdout, _ = proc.communicate()
        error = f"timed out after {limit:.0f} s"
    except BaseException:
        os.killpg(proc.pid, 9)
        proc.wait()
        raise
    took = time.monotonic() - t0
    if verbose and stdout:
        print(stdout, file=sys.stderr)
    if error is None and proc.returncode != 0:
        tail = (stdout or "").strip().splitlines()[-3:]
        error = f"exit {proc.returncode}" + (f": {' / '.join(tail)}" if tail else "")
    figures, facts = ([], {})
    if out.exists():
        figures, facts = read_figures(out)
    elif error is None:
        error = "wrote no figures"
    log(f"== {name}: {'ok' if error is None else error} in {took:.0f} s")
    return figures, facts, error, took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, no goals (CI)")
    ap.add_argument("--only", default="", help="comma-separated script names")
    ap.add_argument("--json", default=None, help="write every figure here too")
    ap.add_argument("--verbose", action="store_true", help="show each script's own output")
    args = ap.parse_args()
    install_sigterm_handler()
    names = [n for n in args.only.split(",") if n] or list(SCRIPTS)
    unknown = [n for n in names if n not in SCRIPTS]
    if unknown:
        ap.error(f"unknown script {unknown[0]!r}; choose from {', '.join(SCRIPTS)}")

    started = time.monotonic()
    figures: list[Figure] = []
    facts: dict[str, dict] = {}
    failures: list[str] = []
    times: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="dltui-bench-all-") as tmp:
        for name in names:
            figs, extra, error, took = run_script(name, args.smoke, Path(tmp), args.verbose)
            figures += figs
            facts[name] = extra
            times[name] = took
            if error is not None:
                failures.append(name)
                figures.append(
                    Figure(f"{name}: not measured", math.nan, math.nan, note=error, group=name)
                )
    elapsed = time.monotonic() - started

    mode = "smoke (tiny sizes, goals not judged)" if args.smoke else "full"
    print()
    print(f"dltui benchmarks, {mode}, {time.strftime('%Y-%m-%d %H:%M')}, {elapsed:.0f} s")
    print("\n".join(machine_lines()))
    tb = facts.get("terminal_bytes", {}).get("facts", {})
    if tb.get("default_message"):
        print(f"first run: {tb['default_message']}")
    print()
    print_table(figures)
    met = [f for f in figures if f.met is not None]
    if met:
        print(f"\n{sum(f.met for f in met)} of {len(met)} goals met")
    print("seconds per script: " + ", ".join(f"{n} {t:.0f}" for n, t in times.items()))
    if failures:
        print(f"scripts that failed: {', '.join(failures)}")
    if args.json:
        from common import write_figures

        write_figures(args.json, figures, facts=facts, seconds=elapsed, mode=mode)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
