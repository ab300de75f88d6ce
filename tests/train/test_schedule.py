"""Learning-rate schedules: each curve against PyTorch's own scheduler, applied by the
trainer step by step, scaled (not fought) by +/-, and continued by --resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from tui.core.builder.spec import LayerStack
from tui.core.train.config import TrainConfig, make_config
from tui.core.train.data import load_data
from tui.core.train.prepare import prepare_run
from tui.core.train.resume import resume_run
from tui.core.train.schedule import SCHEDULES, Schedule
from tui.core.train.settings import RunSettings
from tui.core.train.trainer import Trainer

TIMEOUT = 60


def torch_lrs(make, total: int, lr: float = 0.1) -> list[float]:
    """The lr of each of ``total`` steps under a torch scheduler stepped once per step."""
    p = nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=lr)
    sched = make(opt)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


def ours(kind: str, total: int, per_epoch: int = 1, lr: float = 0.1, **kw) -> list[float]:
    s = Schedule(kind, total_steps=total, steps_per_epoch=per_epoch, **kw)
    return [lr * s.factor(k) for k in range(total)]


def test_each_curve_matches_pytorch():
    total = 120
    close = pytest.approx
    assert ours("onecycle", total) == close(
        torch_lrs(lambda o: torch.optim.lr_scheduler.OneCycleLR(o, 0.1, total_steps=total), total)
    )
    assert ours("cosine", total) == close(
        torch_lrs(lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=total), total)
    )
    # step: every 3 epochs of 10 steps, x0.5 (StepLR stepped once per step, step_size 30)
    assert ours("step", total, per_epoch=10, step_epochs=3, gamma=0.5) == close(
        torch_lrs(lambda o: torch.optim.lr_scheduler.StepLR(o, 30, gamma=0.5), total)
    )
    assert ours("constant", total) == [0.1] * total


def test_warmup_is_linear_then_the_schedule():
    lrs = ours("cosine", 100, warmup_steps=10)
    assert lrs[:10] == pytest.approx([0.1 * (k + 1) / 10 for k in range(10)])
    assert lrs[10] == pytest.approx(0.1) and lrs[-1] < 1e-3
    warm = ours("constant", 20, warmup_steps=4)
    assert warm[:5] == pytest.approx([0.025, 0.05, 0.075, 0.1, 0.1])


def run_recording_lrs(trainer: Trainer) -> list[float]:
    """Run ``trainer`` in this thread; the lr of every optimizer step it took."""
    seen: list[float] = []
    real_step = torch.optim.Adam.step

    def recording_step(opt, *a, **k):
        seen.append(opt.param_groups[0]["lr"])
        return real_step(opt, *a, **k)

    torch.optim.Adam.step = recording_step  # type: ignore[method-assign]
    try:
        trainer._run()
    finally:
        torch.optim.Adam.step = real_step  # type: ignore[method-assign]
    return seen


def lr_points(trainer: Trainer) -> dict[int, float]:
    return {p.step: p.value for p in trainer.buffer.drain() if p.name == "lr"}


@pytest.mark.parametrize("kind", SCHEDULES)
def test_the_trainer_follows_the_schedule(kind: str):
    bundle = load_data("spirals:n=200").split(0.2, seed=0)
    config = TrainConfig(epochs=4, batch_size=16, lr=0.01, schedule=kind, warmup_steps=0)
    model = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
    trainer = Trainer(model, bundle, config, flush_interval=0.0)  # a read-back every step
    seen = run_recording_lrs(trainer)
    assert trainer.state == "finished", trainer.error
    steps = trainer.progress.step
    want = ours(kind, steps, per_epoch=steps // 4, lr=0.01, step_epochs=10)
    assert seen == pytest.approx(want)
    # lr is plotted as before: a point wherever it changed (at each read-back here).
    points = lr_points(trainer)
    assert points[0] == pytest.approx(want[0])
    if kind in ("cosine", "onecycle"):
        assert len(set(points.values())) > 10


def test_plus_and_minus_scale_the_schedule():
    bundle = load_data("spirals:n=200").split(0.2, seed=0)
    config = TrainConfig(epochs=2, batch_size=16, lr=0.01, schedule="cosine")
    trainer = Trainer(nn.Linear(2, 2), bundle, config)
    trainer.pause()
    trainer.step_once()
    trainer.start()
    assert trainer.wait_for(lambda t: t.progress.step == 1 and t.state == "paused", TIMEOUT)
    schedule = trainer._schedule
    trainer.scale_lr(2.0)
    trainer.scale_lr(2.0)  # two presses before the next step: x4
    for k in range(1, 6):
        trainer.step_once()
        assert trainer.wait_for(lambda t, k=k: t.progress.step == k + 1, TIMEOUT)
        assert trainer.progress.lr == pytest.approx(0.04 * schedule.factor(k))
    trainer.stop()
    assert trainer.join(TIMEOUT)
    with pytest.raises(ValueError):
        trainer.scale_lr(0)


SPEC = {
    "format": 1,
    "input_shape": [2],
    "layers": [
        {"type": "Linear", "in_features": 2, "out_features": 8},
        {"type": "ReLU"},
        {"type": "Linear", "in_features": 8, "out_features": 2},
    ],
}


def test_resume_continues_the_schedule_and_its_scale(tmp_path: Path):
    def prepared(name: str):
        config = make_config(
            {"epochs": 4, "batch_size": 16, "lr": 0.01, "schedule": "onecycle",
             "num_threads": 1, "device": "cpu", "eval_interval": 0}
        )  # fmt: skip
        settings = RunSettings(model="builder", data="spirals:n=200", config=config)
        return prepare_run(
            settings, workspace=tmp_path, stack=LayerStack.from_dict(SPEC),
            run_dir=tmp_path / "runs" / name,
        )  # fmt: skip

    run = prepared("resumed")
    t = run.trainer
    t.pause()
    for _ in range(13):
        t.step_once()
    t.start()
    assert t.wait_for(lambda t: t.progress.step == 13 and t.state == "paused", TIMEOUT)
    t.scale_lr(0.5)
    t.step_once()
    assert t.wait_for(lambda t: t.progress.step == 14 and t.state == "paused", TIMEOUT)
    schedule = t._schedule
    t.stop()
    assert t.join(TIMEOUT) and t.state == "stopped"

    again = resume_run(run.run_dir.path)
    seen = run_recording_lrs(again.trainer)
    assert again.trainer.state == "finished", again.trainer.error
    total = schedule.total_steps
    # Steps 15.. go on with the schedule, still at half its level.
    assert seen == pytest.approx([0.005 * schedule.factor(k) for k in range(14, total)])
    config = json.loads((run.run_dir.path / "config.json").read_text())["train"]
    assert config["schedule"] == "onecycle"
