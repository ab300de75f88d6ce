"""The progress text the monitor and ``dltui train`` share, and the per-epoch log lines."""

from __future__ import annotations

from tui.core.train.config import RunState
from tui.core.train.progress import (
    EpochLines,
    TrainProgress,
    epoch_line,
    progress_text,
    summary_text,
    watch_text,
)
from tui.core.train.series import MetricPoint

RUNNING = TrainProgress(
    state=RunState.RUNNING,
    epoch=2,
    epochs=10,
    step=25,
    total_steps=100,
    samples_per_sec=12345.6,
    eta_seconds=3725,
    train_loss=0.123456,
    best_train_loss=0.1,
    val_loss=0.2,
    best_val_loss=0.19,
    val_accuracy=0.875,
    lr=0.001,
)


def test_progress_text_parts():
    text = progress_text(RUNNING, bar_width=8)
    assert text.startswith("running  ━━╸─────  25%")
    parts = text.split("  ")
    assert "epoch 2/10" in parts and "step 25/100" in parts
    assert "loss 0.1235 (best 0.1)" in parts and "val 0.2 (best 0.19)" in parts
    assert "acc 87.5%" in parts and "12,346 samples/s" in parts
    assert "ETA 1:02:05" in parts and "lr 0.001" in parts
    assert "CUDA" not in text


def test_progress_text_before_any_measurement_and_with_cuda():
    idle = TrainProgress(cuda_memory_allocated=1536, cuda_memory_peak=2 * 1024**2)
    text = progress_text(idle, bar_width=0)
    assert text.startswith("idle       0%")
    assert "loss - (best -)" in text and "- samples/s" in text and "ETA -" in text
    assert "acc" not in text
    assert text.endswith("CUDA 1.5 KiB / peak 2.0 MiB")


def test_compact_progress_fits_a_terminal_line():
    text = progress_text(RUNNING, compact=True)
    assert text == (
        "25%  epoch 2/10  step 25/100  loss 0.1235  val 0.2  acc 87.5%  12,346 samples/s  "
        "ETA 1:02:05"
    )
    # The moving figures (up to the accuracy) fit in 80 columns.
    assert text.index("acc") < 80


def test_summary_text_only_while_active():
    assert summary_text(RUNNING) == "▶ running 2/10 loss 0.1235"
    assert summary_text(TrainProgress(state=RunState.FINISHED)) == ""


def test_epoch_lines_from_points():
    lines = EpochLines(epochs=2)
    lines.feed(
        [
            MetricPoint(1, 1, 0.0, "train/loss", 1.0),
            MetricPoint(2, 1, 0.0, "train/loss", 3.0),
            MetricPoint(2, 1, 0.0, "val/loss", 1.5),
            MetricPoint(2, 1, 0.0, "val/accuracy", 0.5),
            MetricPoint(3, 2, 0.0, "train/loss", float("nan")),
        ]
    )
    assert lines.completed(0) == []
    assert lines.completed(1, 100.0) == [
        "epoch 1/2  step 2  loss 2  val 1.5  acc 50.0%  100 samples/s"
    ]
    # Epoch 2 had only a non-finite loss: no mean to show.
    assert lines.completed(2) == ["epoch 2/2  step 3  loss -"]
    assert lines.completed(2) == []
    assert epoch_line(3, 9, 7, None) == "epoch 3/9  step 7  loss -"


def test_watch_text():
    assert (
        watch_text("r", None, 0, None) == "watching r: waiting for the run to start  step 0  loss -"
    )
    assert (
        watch_text("r", RunState.DIED, 5, 0.25, "boom")
        == "watching r: died  step 5  loss 0.25  error: boom"
    )
