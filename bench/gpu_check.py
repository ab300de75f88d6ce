"""One prepared run on a GPU machine: the CUDA tests, then the figures of issue 11.

    python bench/gpu_check.py              # on a machine with CUDA (a few minutes)
    python bench/gpu_check.py --device cpu --no-tests --samples 4000
                                           # the same figures on the CPU, to check it

It prints, for dltui's trainer on the device against a bare PyTorch loop on the same
device, the same model, data and batch size:

- the CUDA tests (``tests/app/test_cuda.py``), passed / failed / skipped;
- synchronisations per second while training (``torch.cuda.set_sync_debug_mode``
  warnings, counted in the trainer's own thread) and per optimizer step;
- samples/s of dltui's trainer and of the bare loop, and their ratio;
- peak GPU memory of the run, and the memory still held after it ended (allocated and
  reserved, against what was held before it started);
- the checkpoint round trip: the last checkpoint loaded in a CPU-only child process
  (``CUDA_VISIBLE_DEVICES=""``) with ``torch.load(path, weights_only=True)``;
- samples/s of the same run in bf16 and fp16 (autocast; fp16 with its GradScaler);
- with more than one GPU, ``torchrun --nproc-per-node <GPUs> -m tui train`` (DDP over
  nccl): its samples/s and final accuracy against the one-GPU run.

Nothing here is a test: figures are printed, not judged, except that a failed CUDA test
or a checkpoint that does not load makes the exit status 1.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from tui.core.train.config import TrainConfig, default_num_threads  # noqa: E402
from tui.core.train.data import load_data  # noqa: E402
from tui.core.train.runs import RunDir  # noqa: E402
from tui.core.train.trainer import Trainer  # noqa: E402

N, BATCH, EPOCHS, HIDDEN = 200_000, 256, 3, 512


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Linear(2, HIDDEN), nn.ReLU(), nn.Linear(HIDDEN, HIDDEN), nn.ReLU(),
        nn.Linear(HIDDEN, 2),
    )  # fmt: skip


def bare_loop(device: torch.device, bundle) -> float:
    """Samples/s of the loop a user would write: data on the device, shuffled slices."""
    x, y = bundle.train.dataset.tensors
    idx = torch.as_tensor(bundle.train.indices)
    x, y = x[idx].to(device), y[idx].to(device)
    net = model().to(device)
    torch.set_num_threads(default_num_threads())  # as many threads as the trainer uses
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    n = x.shape[0]
    start = time.perf_counter()
    for _ in range(EPOCHS):
        perm = torch.randperm(n, device=device)
        for lo in range(0, n, BATCH):
            b = perm[lo : lo + BATCH]
            loss = loss_fn(net(x[b]), y[b])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return EPOCHS * n / (time.perf_counter() - start)


def dltui_run(
    device: torch.device, bundle, workspace: Path, precision: str = "32"
) -> dict[str, float]:
    """dltui's trainer in this thread, with synchronisations counted."""
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.empty_cache()
        held_alloc, held_reserved = torch.cuda.memory_allocated(), torch.cuda.memory_reserved()
        torch.cuda.reset_peak_memory_stats(device)
        torch.cuda.set_sync_debug_mode("warn")
    run_dir = RunDir.create(workspace, label="gpu-check")
    config = TrainConfig(
        device=str(device), epochs=EPOCHS, batch_size=BATCH, lr=1e-3, precision=precision
    )
    trainer = Trainer(model(), bundle, config, run_dir)
    start = time.perf_counter()
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            trainer._run()  # the thread's body, here: the warnings are this thread's
    finally:
        if cuda:
            torch.cuda.set_sync_debug_mode(0)
    elapsed = time.perf_counter() - start
    if trainer.state != "finished":
        raise SystemExit(f"gpu_check: the dltui run did not finish: {trainer.error}")
    syncs = sum("synchroniz" in str(w.message) for w in caught)
    steps = trainer.progress.step
    out = {
        "elapsed": elapsed,
        "steps": steps,
        "syncs": syncs,
        "samples_per_s": steps * BATCH / elapsed,
        "val_accuracy": trainer.progress.val_accuracy,
        "run_dir": str(run_dir.path),
    }
    if cuda:
        out["peak"] = torch.cuda.max_memory_allocated(device)
        out["released"] = trainer.released_bytes
        out["held_alloc"] = torch.cuda.memory_allocated() - held_alloc
        out["held_reserved"] = torch.cuda.memory_reserved() - held_reserved
    return out


def checkpoint_round_trip(run_dir: str) -> tuple[bool, str]:
    code = (
        "import sys, torch\n"
        "p = torch.load(sys.argv[1], weights_only=True)\n"
        "devs = set()\n"
        "def walk(o):\n"
        "    if isinstance(o, torch.Tensor): devs.add(o.device.type)\n"
        "    elif isinstance(o, dict): [walk(v) for v in o.values()]\n"
        "    elif isinstance(o, (list, tuple)): [walk(v) for v in o]\n"
        "walk(p)\n"
        "print('step', p['step'], 'devices', sorted(devs), 'cuda', torch.cuda.is_available())\n"
    )
    env = os.environ | {"CUDA_VISIBLE_DEVICES": ""}
    ckpt = str(Path(run_dir) / "checkpoint-last.pt")
    out = subprocess.run(
        [sys.executable, "-c", code, ckpt], env=env, capture_output=True, text=True, timeout=300
    )
    text = (out.stdout or out.stderr).strip().splitlines()
    return out.returncode == 0, text[-1] if text else f"exit {out.returncode}"


def ddp_run(gpus: int, samples: int, workspace: Path) -> tuple[float | None, str]:
    """samples/s and the status line of a torchrun job over ``gpus`` GPUs."""
    import json

    spec = workspace / "spec.json"
    spec.write_text(
        json.dumps(
            {"format": 1, "input_shape": [2],
             "layers": [{"type": "Linear", "in_features": 2, "out_features": HIDDEN},
                        {"type": "ReLU"},
                        {"type": "Linear", "in_features": HIDDEN, "out_features": HIDDEN},
                        {"type": "ReLU"},
                        {"type": "Linear", "in_features": HIDDEN, "out_features": 2}]}
        )
    )  # fmt: skip
    run = workspace / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone",
           "--nproc-per-node", str(gpus), "-m", "tui", "train", str(spec),
           "--data", f"spirals:n={samples}", "--val-split", "0.1", "--epochs", str(EPOCHS),
           "--batch-size", str(BATCH), "--device", "cuda", "--run-dir", str(run)]  # fmt: skip
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    elapsed = time.perf_counter() - start
    try:
        status = json.loads((run / "status.json").read_text())
    except (OSError, ValueError):
        return None, f"exit {out.returncode}: {(out.stderr or '').strip().splitlines()[-1:]}"
    rate = status.get("step", 0) * BATCH / elapsed  # start-up included: a lower bound
    return rate, f"{status.get('state')}, val accuracy {status.get('val_accuracy')}"


def mib(n: float) -> str:
    return f"{n / (1 << 20):,.1f} MiB"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--no-tests", action="store_true", help="skip tests/app/test_cuda.py")
    parser.add_argument("--samples", type=int, default=N, help=f"spirals samples ({N:,})")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("gpu_check: CUDA is not available here (use --device cpu to try the script)")
        return 2
    failed = False
    print(f"torch {torch.__version__}, device {device}", end="")
    if device.type == "cuda":
        print(f" = {torch.cuda.get_device_name(device)}, {torch.cuda.device_count()} GPU(s)")
    else:
        print()
    if not args.no_tests:
        tests = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
             "tests/app/test_cuda.py", "tests/app/test_mps.py"],
            cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        lines = (tests.stdout + tests.stderr).strip().splitlines()
        print("CUDA tests:", lines[-1] if lines else f"exit {tests.returncode}")
        if tests.returncode != 0:
            failed = True
            print("\n".join(lines[-40:]))
    bundle = load_data(f"spirals:n={args.samples}").split(0.1, seed=0)
    bare = bare_loop(device, bundle)
    with tempfile.TemporaryDirectory() as tmp:
        run = dltui_run(device, bundle, Path(tmp))
        ok, line = checkpoint_round_trip(run["run_dir"])
        mixed = {}
        for precision in ("bf16", "fp16") if device.type == "cuda" else ("bf16",):
            mixed[precision] = dltui_run(device, bundle, Path(tmp), precision)
        gpus = torch.cuda.device_count() if device.type == "cuda" else 0
        ddp = ddp_run(gpus, args.samples, Path(tmp)) if gpus > 1 else None
    failed |= not ok
    print(f"model 2-{HIDDEN}-{HIDDEN}-2, batch {BATCH}, {EPOCHS} epochs of {len(bundle.train):,}")
    print(f"samples/s: dltui {run['samples_per_s']:,.0f}, bare loop {bare:,.0f}, ", end="")
    print(f"ratio {run['samples_per_s'] / bare:.2f}x")
    rate = run["syncs"] / run["elapsed"]
    print(f"syncs: {run['syncs']} in {run['elapsed']:.1f} s = {rate:.1f}/s, ", end="")
    print(f"{run['syncs'] / max(1, run['steps']):.3f} per step ({run['steps']} steps)")
    if "peak" in run:
        print(f"peak GPU memory of the run: {mib(run['peak'])}")
        print(f"memory handed back at the end of the run: {mib(run['released'])}")
        print(
            f"held after the run: {mib(run['held_alloc'])} allocated, "
            f"{mib(run['held_reserved'])} reserved (the trained model stays)"
        )
    print(f"checkpoint on a CPU-only process: {'loads' if ok else 'FAILS'} ({line})")
    for precision, r in mixed.items():
        print(
            f"{precision}: {r['samples_per_s']:,.0f} samples/s "
            f"({r['samples_per_s'] / run['samples_per_s']:.2f}x float32), "
            f"val accuracy {r['val_accuracy']}"
        )
    if ddp is not None:
        rate, text = ddp
        shown = f"{rate:,.0f} samples/s with start-up" if rate else "no figure"
        print(f"DDP over {gpus} GPUs (torchrun, nccl): {shown}; {text}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
