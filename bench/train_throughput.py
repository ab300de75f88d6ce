"""Training steps/s: a bare PyTorch loop, ``dltui train`` headless, and the TUI.

Usage: .venv/bin/python bench/train_throughput.py [--seconds S] [--reps N] [--no-tui]
                                                  [--smoke] [--json PATH]

Two workloads, both Adam (lr 1e-3), cross-entropy, batch 64, shuffled every epoch:

- tiny: two spirals (the default ``spirals``: 1000 points, 800 to train), Linear(2, 2):
  the framework's own cost per step dominates;
- mlp: 784-512-512-10 on random data (8000 samples, a ``.npz`` file), 1 intra-op thread:
  compute-bound, the framework's cost should vanish.

Each measurement runs in a fresh process:

- bare: the loop written by hand over the same training split (index a tensor with a
  random permutation, forward, loss, zero_grad, backward, step), ``--seconds`` long;
- headless: ``dltui train SPEC --data ... --num-threads 1 --run-dir DIR`` with enough
  epochs to last about as long at the bare loop's speed (if the command fails, the
  ``Trainer`` is driven in-process the way the command does, and the row says so);
- TUI: the app in a 120x40 pseudo-terminal, the model typed into the REPL and named in
  the monitor's form (data, epochs likewise), started by keys with the monitor shown.

The headless and TUI rates come from the run's own ``metrics.jsonl`` (a time-stamped
train/loss point per step): steps over time from 10 % into the run to its last step,
so validation and checkpoints between epochs count, start-up does not. Bare and
headless alternate for ``--reps`` rounds (fewer once ``--budget`` seconds are spent on a
workload: a loaded machine); the TUI runs once per workload (its start-up is long).
Goals: tiny headless >= 0.8x bare, TUI >= 0.9x headless; mlp >= 0.95x both.
The TUI's trainer picks its own thread count (``default_num_threads``), noted in the row.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    APP_ROOT,
    MONITOR_FOOTER,
    PYTHON,
    UI_MONITOR_READY,
    UI_RUN_ENDED,
    UI_TRAINING,
    Figure,
    dltui,
    goal_at_least,
    install_sigterm_handler,
    log,
    machine_lines,
    median,
    print_table,
    run_in_repl,
    set_form,
    usable_cpus,
    wait_engine,
    wait_focus,
    workspace,
    write_figures,
)

WORKLOADS = {
    "tiny": {
        "data": "spirals",
        "input": 2,
        "layers": [2],
        "code": "tiny = nn.Linear(2, 2)",
        "name": "tiny",
        "label": "tiny (spirals, Linear 2->2, batch 64)",
    },
    "mlp": {
        "data": "@npz",
        "input": 784,
        "layers": [512, 512, 10],
        "code": (
            "mlp = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), "
            "nn.ReLU(), nn.Linear(512, 10))"
        ),
        "name": "mlp",
        "label": "MLP 784-512-512-10 (random data, batch 64, 1 thread)",
    },
}
MLP_SAMPLES = 8000
VAL_SPLIT = 0.2

# The bare loop, in a child process: argv = data source, layers, seconds, val split.
BARE_CODE = r"""
import json, sys, time
import numpy as np
import torch
from torch import nn
import torch.nn.functional as F
torch.set_num_threads(1)
torch.manual_seed(0)
source, layers, seconds = sys.argv[1], json.loads(sys.argv[2]), float(sys.argv[3])
if source.endswith(".npz"):
    d = np.load(source)
    X, Y = torch.from_numpy(d["X"]).float(), torch.from_numpy(d["y"]).long()
else:  # the default spirals: 1000 points, 2 features, 2 classes (values do not matter)
    X, Y = torch.randn(1000, 2), torch.randint(0, 2, (1000,))
n = int(len(X) * (1 - float(sys.argv[4])))
X, Y = X[:n].contiguous(), Y[:n].contiguous()
mods, width = [], X.shape[1]
for i, w in enumerate(layers):
    mods.append(nn.Linear(width, w))
    if i + 1 < len(layers):
        mods.append(nn.ReLU())
    width = w
model = nn.Sequential(*mods)
opt = torch.optim.Adam(model.parameters(), lr=1e-3)
g = torch.Generator().manual_seed(0)

def steps():
    while True:
        perm = torch.randperm(n, generator=g)
        for lo in range(0, n, 64):
            yield perm[lo:lo + 64]

it = steps()
def one():
    idx = next(it)
    loss = F.cross_entropy(model(X[idx]), Y[idx])
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.detach()
for _ in range(20):
    one()
count, t0 = 0, time.perf_counter()
while time.perf_counter() - t0 < seconds:
    for _ in range(10):
        one()
    count += 10
took = time.perf_counter() - t0
print(json.dumps({"steps": count, "seconds": took, "rate": count / took, "train": n}))
"""

# dltui's Trainer driven in-process as `dltui train` drives it (the fallback).
TRAINER_CODE = r"""
import importlib, json, sys, time
sys.path.insert(0, sys.argv[1])
from torch import nn
import torch

def find(name, modules):
    for m in modules:
        try:
            obj = getattr(importlib.import_module(m), name, None)
        except ImportError:
            continue
        if obj is not None:
            return obj
    raise SystemExit(f"{name} not found in {modules}")

load_data = find("load_data", ["tui.core.train.data", "tui.core.train.data.load"])
Trainer = find("Trainer", ["tui.core.train.trainer"])
TrainConfig = find("TrainConfig", ["tui.core.train.config", "tui.core.train.trainer"])
RunDir = find("RunDir", ["tui.core.train.runs"])
source, layers, epochs, run_dir, split = (
    sys.argv[2], json.loads(sys.argv[3]), int(sys.argv[4]), sys.argv[5], float(sys.argv[6]))
bundle = load_data(source).split(split, seed=0)
torch.manual_seed(0)
mods, width = [], int(bundle.input_shape[0])
for i, w in enumerate(layers):
    mods.append(nn.Linear(width, w))
    if i + 1 < len(layers):
        mods.append(nn.ReLU())
    width = w
config = TrainConfig(loss="cross_entropy", optimizer="adam", lr=1e-3, batch_size=64,
                     epochs=epochs, device="cpu", num_threads=1, val_split=split)
trainer = Trainer(nn.Sequential(*mods), bundle, config, RunDir.at(run_dir))
trainer.start()
while not trainer.join(0.25):
    trainer.buffer.drain()
trainer.buffer.drain()
print(json.dumps({"state": str(trainer.state)}))
"""


def child_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(APP_ROOT), OMP_NUM_THREADS="1")


def run_json(argv: list[str], timeout: float) -> dict:
    out = subprocess.run(argv, capture_output=True, text=True, env=child_env(), timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"exit {out.returncode}: {out.stderr.strip()[-600:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def steady_rate(metrics: Path, skip: float = 0.1) -> tuple[float, int]:
    """Steps/s from the train/loss points of a run, from ``skip`` into it to the end."""
    points = []
    with open(metrics, "rb") as fh:
        for line in fh:
            try:
                d = json.loads(line)
            except ValueError:
                continue
            if d.get("name") == "train/loss":
                points.append((int(d["step"]), float(d["time"])))
    if len(points) < 10:
        return math.nan, len(points)
    points.sort()
    a = points[int(len(points) * skip)]
    b = points[-1]
    return ((b[0] - a[0]) / (b[1] - a[1]) if b[1] > a[1] else math.nan), len(points)


def write_spec(path: Path, inputs: int, layers: list[int]) -> None:
    spec_layers: list[dict] = []
    for i, w in enumerate(layers):
        spec_layers.append({"type": "Linear", "in_features": "auto", "out_features": w})
        if i + 1 < len(layers):
            spec_layers.append({"type": "ReLU"})
    spec = {"format": 1, "input_shape": [inputs], "layers": spec_layers}
    path.write_text(json.dumps(spec, indent=1))


def write_npz(path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.standard_normal((MLP_SAMPLES, 784), dtype=np.float32)
    y = rng.integers(0, 10, MLP_SAMPLES).astype(np.int64)
    np.savez(path, X=X, y=y)


def epochs_for(rate: float, seconds: float, train_samples: int) -> int:
    per_epoch = max(1, math.ceil(train_samples / 64))
    return max(2, math.ceil(rate * seconds / per_epoch))


def headless(
    spec: Path, data: str, layers: list[int], epochs: int, run_dir: Path, timeout: float
) -> tuple[float, str]:
    """Steps/s of ``dltui train`` (or the in-process fallback) and how it was run."""
    argv = [
        PYTHON, "-m", "tui", "train", str(spec), "--data", data, "--epochs", str(epochs),
        "--batch-size", "64", "--lr", "0.001", "--optimizer", "adam",
        "--loss", "cross_entropy", "--seed", "0", "--val-split", str(VAL_SPLIT),
        "--num-threads", "1", "--device", "cpu", "--run-dir", str(run_dir),
    ]  # fmt: skip
    out = subprocess.run(
        argv, capture_output=True, text=True, env=child_env(), timeout=timeout, cwd=run_dir.parent
    )
    how = "dltui train"
    if out.returncode != 0 or not (run_dir / "metrics.jsonl").exists():
        err = (out.stderr.strip().splitlines() or ["?"])[-1][:200]
        how = f"Trainer in-process (dltui train failed: {err})"
        fallback = run_dir.with_name(run_dir.name + "-trainer")
        run_json(
            [PYTHON, "-c", TRAINER_CODE, str(APP_ROOT), data, json.dumps(layers), str(epochs),
             str(fallback), str(VAL_SPLIT)],
            timeout,
        )  # fmt: skip
        run_dir = fallback
    rate, _ = steady_rate(run_dir / "metrics.jsonl")
    return rate, how


def tui_rate(work: dict, data: str, epochs: int, timeout: float) -> tuple[float, str]:
    """Steps/s of the same run started in the TUI by keys, with the monitor shown."""
    with workspace() as ws, dltui(ws, cols=120, rows=40) as app:
        wait_engine(app, 240)
        run_in_repl(app, work["code"], rf">>> {work['name']} = ", 120)
        app.send("f4")
        app.wait_screen(UI_MONITOR_READY, 240)
        set_form(app, {"model": work["name"], "data": data, "epochs": str(epochs)})
        app.send("enter")
        app.wait_screen(UI_TRAINING, 240)
        app.send("escape")
        wait_focus(app, MONITOR_FOOTER)
        app.wait_screen(UI_RUN_ENDED, timeout)
        if "failed" in app.flat_screen():
            raise RuntimeError("the run failed in the TUI: " + app.flat_screen()[:300])
        metrics = sorted((ws / "runs").glob("*/metrics.jsonl"))
        if not metrics:
            raise RuntimeError("the TUI run left no metrics.jsonl")
        time.sleep(1.0)  # the last flush
        rate, _ = steady_rate(metrics[-1])
    return rate, "TUI"


def tui_threads() -> int:
    try:
        from tui.core.train.config import default_num_threads

        return int(default_num_threads())
    except Exception:
        return max(1, min(usable_cpus() - 1, 8))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=6.0, help="bare-loop seconds (6)")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--no-tui", action="store_true", help="skip the TUI runs")
    ap.add_argument("--workloads", default="tiny,mlp")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument(
        "--budget",
        type=float,
        default=150.0,
        help="seconds per workload after which no further repetition starts",
    )
    ap.add_argument(
        "--smoke", action="store_true", help="1-s runs, 1 repetition, the TUI on tiny only"
    )
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    install_sigterm_handler()
    if args.smoke:
        args.seconds, args.reps = 1.0, 1
    judge = not args.smoke
    figures: list[Figure] = []

    with tempfile.TemporaryDirectory(prefix="dltui-bench-train-") as tmp:
        tmpdir = Path(tmp)
        npz = tmpdir / "random-784.npz"
        write_npz(npz)
        for key in args.workloads.split(","):
            work = WORKLOADS[key]
            data = str(npz) if work["data"] == "@npz" else work["data"]
            spec = tmpdir / f"{key}.json"
            write_spec(spec, work["input"], work["layers"])
            bare, head, hows = [], [], []
            started = time.monotonic()
            for rep in range(args.reps):
                if rep and time.monotonic() - started > args.budget:
                    log(f"  time budget spent: {rep} repetition(s)")
                    break
                b = run_json(
                    [PYTHON, "-c", BARE_CODE, data, json.dumps(work["layers"]),
                     str(args.seconds), str(VAL_SPLIT)],
                    args.timeout,
                )  # fmt: skip
                bare.append(b["rate"])
                epochs = epochs_for(b["rate"], args.seconds, b["train"])
                rate, how = headless(
                    spec, data, work["layers"], epochs, tmpdir / f"run-{key}-{rep}", args.timeout
                )
                head.append(rate)
                hows.append(how)
                log(f"  {key} rep {rep + 1}: bare {b['rate']:.0f} steps/s, headless "
                    f"{rate:.0f} steps/s ({epochs} epochs, {how})")  # fmt: skip
            b_med, h_med = median(bare), median(head)
            goal_h = 0.8 if key == "tiny" else 0.95
            goal_t = 0.9 if key == "tiny" else 0.95
            h_ratio = h_med / b_med if b_med else math.nan
            figures.append(
                Figure(
                    f"{work['label']}: headless steps/s",
                    b_med,
                    h_med,
                    "steps/s",
                    "bare loop",
                    f">= {goal_h}x bare",
                    goal_at_least(h_ratio, goal_h, judge),
                    note=f"via {hows[0]}",
                    group="train throughput",
                )
            )
            skip_tui = args.no_tui or (args.smoke and key != "tiny")
            if skip_tui:
                figures.append(
                    Figure(
                        f"{work['label']}: TUI steps/s",
                        h_med,
                        math.nan,
                        "steps/s",
                        "headless",
                        f">= {goal_t}x headless",
                        None,
                        note="not measured (" + ("--no-tui" if args.no_tui else "smoke") + ")",
                        group="train throughput",
                    )
                )
                continue
            epochs = epochs_for(b_med, args.seconds * 1.5, int(
                (MLP_SAMPLES if key == "mlp" else 1000) * (1 - VAL_SPLIT)
            ))  # fmt: skip
            try:
                t_rate, _ = tui_rate(work, data, epochs, args.timeout)
                note = f"{tui_threads()} intra-op thread(s) (the TUI's default); {epochs} epochs"
            except Exception as exc:  # the TUI part is best effort: report, do not crash
                t_rate, note = math.nan, f"not measured: {type(exc).__name__}: {exc}"[:300]
            log(f"  {key} TUI: {t_rate:.0f} steps/s")
            t_ratio = t_rate / h_med if h_med else math.nan
            figures.append(
                Figure(
                    f"{work['label']}: TUI steps/s",
                    h_med,
                    t_rate,
                    "steps/s",
                    "headless",
                    f">= {goal_t}x headless",
                    goal_at_least(t_ratio, goal_t, judge) if math.isfinite(t_rate) else None,
                    note=note + f"; {t_rate / b_med:.2f}x the bare loop"
                    if math.isfinite(t_rate)
                    else note,
                    group="train throughput",
                )
            )

    print("\n".join(machine_lines()))
    print_table(figures, f"training throughput (medians of up to {args.reps})")
    write_figures(args.json, figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
