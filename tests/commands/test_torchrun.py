"""``torchrun -m tui train``: a 2-process gloo DDP run on the CPU takes the same steps as
one process and reaches the same accuracy; rank 0 alone writes; a failure on rank 1 ends
the run as failed with rank 1 named."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from tui.core.train.distributed import Dist, from_env, shard

REPO = Path(__file__).resolve().parents[2]
SPEC = {
    "format": 1,
    "input_shape": [2],
    "layers": [
        {"type": "Linear", "in_features": 2, "out_features": 64},
        {"type": "ReLU"},
        {"type": "Linear", "in_features": 64, "out_features": 2},
    ],
}
ARGS = ["--data", "spirals", "--epochs", "20", "--lr", "0.02", "--batch-size", "32",
        "--device", "cpu", "--num-threads", "1"]  # fmt: skip


def train(tmp_path: Path, name: str, nproc: int = 1, env: dict[str, str] | None = None):
    spec = tmp_path / "spec.json"
    spec.write_text(json.dumps(SPEC))
    run = tmp_path / name
    head = [sys.executable, "-m", "tui"]
    if nproc > 1:
        head = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
                "--standalone", "-m", "tui"]  # fmt: skip
    proc = subprocess.run(
        [*head, "train", str(spec), *ARGS, "--run-dir", str(run)],
        capture_output=True, text=True, timeout=600, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})},
    )  # fmt: skip
    return proc, run


def losses(run: Path, name: str = "train/loss") -> list[tuple[int, float]]:
    out = []
    for line in (run / "metrics.jsonl").read_text().splitlines():
        d = json.loads(line)
        if d["name"] == name:
            out.append((d["step"], d["value"]))
    return out


def test_two_ranks_take_the_same_steps_and_reach_the_same_accuracy(tmp_path: Path):
    single, one = train(tmp_path, "one")
    assert single.returncode == 0, single.stderr
    ddp, two = train(tmp_path, "two", nproc=2)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    a, b = losses(one), losses(two)
    assert [s for s, _ in a] == [s for s, _ in b]  # every step, once, the same count
    # The global batch is dealt out 16 + 16 and the gradients averaged: the same run
    # up to the order of float sums.
    assert max(abs(x - y) for (_, x), (_, y) in zip(a, b, strict=True)) < 1e-3
    s1 = json.loads((one / "status.json").read_text())
    s2 = json.loads((two / "status.json").read_text())
    assert s2["state"] == "finished" and s2["step"] == s1["step"]
    assert abs(s2["val_accuracy"] - s1["val_accuracy"]) <= 0.01
    assert s2["val_accuracy"] >= 0.9
    config = json.loads((two / "config.json").read_text())
    assert config["distributed"] == {"world_size": 2, "backend": "gloo", "batch_per_rank": 16}
    # Rank 0 alone wrote: one run folder, printed once.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one", "spec.json", "two"]
    assert ddp.stderr.count("dltui: training into") == 1
    ckpt = torch.load(two / "checkpoint-last.pt", weights_only=True)["model"]
    assert not any(k.startswith("module.") for k in ckpt)  # the unwrapped module's keys


def test_a_failure_on_rank_1_fails_the_run_naming_rank_1(tmp_path: Path):
    proc, run = train(tmp_path, "bad", nproc=2, env={"DLTUI_TEST_FAIL_RANK": "1:5"})
    assert proc.returncode != 0
    status = json.loads((run / "status.json").read_text())
    assert status["state"] == "failed", status
    assert status["error"].startswith("rank 1: RuntimeError at step 5"), status["error"]
    assert "dltui: rank 1: training failed" in proc.stderr


def test_resume_under_torchrun_is_refused_in_one_line(tmp_path: Path, monkeypatch, capsys):
    from tui.cli import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    assert main(["train", "--resume", str(tmp_path)]) == 2
    assert "not under torchrun" in capsys.readouterr().err


def test_each_rank_gets_an_equal_share_of_the_permutation(monkeypatch):
    order = torch.randperm(11, generator=torch.Generator().manual_seed(0))
    parts = [shard(order, Dist(r, 2, r)) for r in range(2)]
    assert [len(p) for p in parts] == [5, 5]
    assert not set(parts[0].tolist()) & set(parts[1].tolist())
    uneven = [shard(order, Dist(r, 2, r), equal=False) for r in range(2)]  # validation
    assert sorted(torch.cat(uneven).tolist()) == list(range(11))
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert from_env() is None
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("RANK", "3")
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert from_env() == Dist(3, 4, 1)
