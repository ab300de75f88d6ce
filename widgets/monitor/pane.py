"""The training monitor pane (F4): configure, start, steer and watch a run.

The trainer runs in its own thread (``tui.core.train.trainer``); this pane drains its metric
buffer on a 4 Hz timer, never one message per step, and redraws the plot from bounded
data. Past runs in the workspace are listed and can be overlaid. In watch mode
(``dltui watch RUN_DIR``) the same pane follows a run that another process writes, by
reading its metrics.jsonl incrementally.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import DataTable, Input, Label, Static

if TYPE_CHECKING:
    from tui.core.train.prepare import PreparedRun
    from tui.core.train.runs import MetricsReader
    from tui.core.train.series import MetricSeries
    from tui.core.train.trainer import Trainer, TrainProgress
    from widgets.monitor.loss_plot import LossPlot

DRAIN_INTERVAL = 0.25
FIELDS = [
    # (id, label, default, hint)
    ("model", "model", "builder", "builder, or a REPL variable name"),
    ("data", "data", "spirals", "spirals moons circles xor sine linear, a file, or a REPL name"),
    ("loss", "loss", "auto", "auto cross_entropy mse bce_with_logits l1"),
    ("optimizer", "optimizer", "adam", "sgd adam adamw"),
    ("lr", "lr", "0.001", "learning rate"),
    ("batch_size", "batch", "64", "batch size"),
    ("epochs", "epochs", "20", "epochs"),
    ("device", "device", "", "REPL's device"),
]


def _fmt_time(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "-"
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _fmt(v: float | None, spec: str = ".4g") -> str:
    return "-" if v is None else format(v, spec)


def progress_text(p: TrainProgress, width: int = 20) -> str:
    """The progress line: bar, epoch, step, speed, ETA, last and best values."""
    done = p.step / p.total_steps if p.total_steps else 0.0
    filled = int(done * width)
    bar = "━" * filled + ("╸" if filled < width else "") + "─" * max(0, width - filled - 1)
    parts = [
        f"{p.state:<8} {bar} {done * 100:3.0f}%",
        f"epoch {p.epoch}/{p.epochs}",
        f"step {p.step}/{p.total_steps}",
        f"{_fmt(p.samples_per_sec, '.0f')} samples/s",
        f"ETA {_fmt_time(p.eta_seconds)}",
        f"loss {_fmt(p.train_loss)} (best {_fmt(p.best_train_loss)})",
        f"val {_fmt(p.val_loss)} (best {_fmt(p.best_val_loss)})",
    ]
    if p.val_accuracy is not None:
        parts.append(f"acc {p.val_accuracy * 100:.1f}%")
    parts.append(f"lr {_fmt(p.lr, '.3g')}")
    if p.cuda_memory_allocated is not None:
        from tui.core.repl.inspect import human_bytes

        parts.append(
            f"CUDA {human_bytes(p.cuda_memory_allocated)} / peak "
            f"{human_bytes(p.cuda_memory_peak or 0)}"
        )
    return "  ".join(parts)


class MonitorPane(Vertical):
    """Config form, progress, loss plot and the workspace's runs."""

    BINDINGS = [
        Binding(
            "s",
            "start",
            "Start",
            id="monitor.start",
            tooltip="Start a run with the form's settings",
        ),
        Binding(
            "space", "pause", "Pause/resume", id="monitor.pause", tooltip="Pause or resume the run"
        ),
        Binding(
            "n",
            "step",
            "Step",
            show=False,
            id="monitor.step",
            tooltip="One optimizer step while paused",
        ),
        Binding(
            "x",
            "stop",
            "Stop",
            id="monitor.stop",
            tooltip="Stop after the current step (checkpoint kept)",
        ),
        Binding(
            "plus,equals_sign",
            "lr(2.0)",
            "lr×2",
            id="monitor.lr_up",
            tooltip="Double the learning rate (applies at the next step)",
        ),
        Binding(
            "minus", "lr(0.5)", "lr÷2", id="monitor.lr_down", tooltip="Halve the learning rate"
        ),
        Binding(
            "right_square_bracket",
            "smoothing(0.1)",
            "Smooth+",
            show=False,
            id="monitor.smooth_up",
            tooltip="More EMA smoothing",
        ),
        Binding(
            "left_square_bracket",
            "smoothing(-0.1)",
            "Smooth-",
            show=False,
            id="monitor.smooth_down",
            tooltip="Less EMA smoothing",
        ),
        Binding(
            "l", "logy", "Log y", show=False, id="monitor.logy", tooltip="Toggle a log-scale y axis"
        ),
        Binding(
            "a",
            "xaxis",
            "X axis",
            show=False,
            id="monitor.xaxis",
            tooltip="x axis: step, epoch or time",
        ),
        Binding(
            "c",
            "compare",
            "Compare",
            id="monitor.compare",
            tooltip="Overlay the selected past run's curve (again: remove)",
        ),
        Binding(
            "R",
            "refresh_runs",
            "Refresh runs",
            show=False,
            id="monitor.refresh",
            tooltip="Re-read the runs folder",
        ),
        Binding(
            "e", "edit_form", "Form", show=False, id="monitor.form", tooltip="Edit the run settings"
        ),
        Binding(
            "escape",
            "leave_form",
            "Runs",
            show=False,
            id="monitor.runs",
            tooltip="From the form to the runs list",
        ),
    ]

    @dataclass
    class Prepared(Message):
        run: PreparedRun | None
        error: str | None

    @dataclass
    class RunEnded(Message):
        """A run of this pane ended (finished, stopped or failed)."""

        state: str

    @dataclass
    class ProgressSummary(Message):
        """A compact progress text for the status line of every pane ('' clears it)."""

        text: str

    def __init__(self, workspace: Path, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.workspace = workspace
        self.ready = False
        self.trainer: Trainer | None = None
        self.run_dir: Path | None = None
        self.series: dict[str, MetricSeries] = {}
        self.overlays: dict[str, MetricSeries] = {}
        self.smoothing = 0.6
        self.plot: LossPlot | None = None
        self.watch_reader: MetricsReader | None = None
        self.watch_dir: Path | None = None
        self._steps_per_epoch = 1
        self._starting = False
        self._last_state = ""
        self._lr_target: float | None = None  # the lr asked for with +/-, maybe not applied yet
        self.drains = 0

    def compose(self) -> ComposeResult:
        with Horizontal(id="monitor-top"):
            with Vertical(id="train-form"):
                for fid, label, default, hint in FIELDS:
                    with Horizontal(classes="form-row"):
                        yield Label(label, classes="form-label")
                        yield Input(
                            default, placeholder=hint, id=f"train-{fid}", classes="train-input"
                        )
            with Vertical(id="monitor-right"):
                yield Static("torch loading…", id="train-progress")
                yield Static("", id="train-message")
                yield Static("", id="plot-slot")
        table: DataTable[str] = DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        table.add_column("run", key="name")
        # Fixed width: a cleared DataTable keeps columns as wide as their widest content so
        # far, so an auto width would depend on whether "running" was ever listed.
        table.add_column("status", key="status", width=8)
        table.add_column("step", key="step")
        table.add_column("best val", key="best")
        table.add_column("shown", key="shown")
        yield table

    def on_mount(self) -> None:
        self.set_interval(DRAIN_INTERVAL, self._drain)

    def focus_default(self) -> None:
        self.query_one("#runs", DataTable).focus()

    def engine_ready(self) -> None:
        from widgets.monitor.loss_plot import LossPlot

        self.ready = True
        self.plot = LossPlot(id="loss-plot")
        self.query_one("#monitor-right").mount(self.plot)
        self.query_one("#plot-slot").remove()
        self.query_one("#train-progress", Static).update(
            "no run yet: e edits the settings on the left, s starts a run"
        )
        self.action_refresh_runs()
        self._redraw()

    # -- reading the form --
    def _form(self) -> dict[str, str]:
        return {fid: self.query_one(f"#train-{fid}", Input).value.strip() for fid, *_ in FIELDS}

    def action_edit_form(self) -> None:
        self.query_one("#train-model", Input).focus()

    def action_leave_form(self) -> None:
        self.focus_default()

    @on(Input.Submitted, ".train-input")
    def _form_submitted(self) -> None:
        self.action_start()

    # -- starting a run --
    def action_start(self) -> None:
        if not self.ready:
            self.notify("torch is still loading.")
            return
        if self.trainer is not None and self.trainer.state in ("running", "paused"):
            self.notify("A run is already training: stop it (x) first.", severity="warning")
            return
        if self._starting:
            return
        form = self._form()
        try:
            config_kwargs = self._config_from_form(form)
        except ValueError as exc:
            self._message(str(exc), error=True)
            return
        self._starting = True
        self._message("preparing: loading data and checking the model against it…")
        # The builder's stack is read here, on the UI thread, not from the worker.
        builder = self.app.builder_stack()  # type: ignore[attr-defined]
        self._prepare(form, config_kwargs, builder)

    def _config_from_form(self, form: dict[str, str]) -> dict[str, Any]:
        def number(name: str, kind: type) -> Any:
            text = form[name]
            try:
                return kind(text)
            except ValueError:
                raise ValueError(
                    f"{name}: {text!r} is not a{'n integer' if kind is int else ' number'}"
                ) from None

        return {
            "loss": form["loss"] or "auto",
            "optimizer": form["optimizer"] or "adam",
            "lr": number("lr", float),
            "batch_size": number("batch_size", int),
            "epochs": number("epochs", int),
            "device": form["device"],
        }

    @work(thread=True, exit_on_error=False, group="train-prepare")
    def _prepare(self, form: dict[str, str], kw: dict[str, Any], builder: Any) -> None:
        from tui.core.train.prepare import LaunchError, prepare_run
        from tui.core.train.trainer import TrainConfig

        session: Any = self.app.session  # type: ignore[attr-defined]
        device = kw["device"] or (session.info.device if session.info else "cpu")
        try:
            config = TrainConfig(
                loss=kw["loss"],
                optimizer=kw["optimizer"],
                lr=kw["lr"],
                batch_size=kw["batch_size"],
                epochs=kw["epochs"],
                device=device,
            )
            name = form["model"] or "builder"
            if name == "builder":
                if builder is None:
                    raise LaunchError("the builder (F3) has no stack yet")
                run = prepare_run(
                    stack=builder,
                    model=None,
                    model_label="mlp",
                    data_source=form["data"],
                    config=config,
                    workspace=self.workspace,
                    namespace=session.namespace,
                )
            else:
                obj = session.namespace.get(name)
                from torch import nn

                if not isinstance(obj, nn.Module):
                    raise LaunchError(
                        f"model: {name!r} is not an nn.Module in the REPL "
                        "(use 'builder' or a module variable)"
                    )
                run = prepare_run(
                    stack=None,
                    model=obj,
                    model_label=name,
                    data_source=form["data"],
                    config=config,
                    workspace=self.workspace,
                    namespace=session.namespace,
                )
        except (LaunchError, ValueError) as exc:
            self.post_message(self.Prepared(None, str(exc)))
            return
        self.post_message(self.Prepared(run, None))

    @on(Prepared)
    def _prepared(self, event: Prepared) -> None:
        self._starting = False
        if event.run is None:
            self._message(event.error or "could not start", error=True)
            return
        from tui.core.train.series import MetricSeries

        self.stop_watching()
        run = event.run
        self.trainer = run.trainer
        self.run_dir = run.run_dir.path
        self.series = {
            name: MetricSeries(name, self.smoothing)
            for name in ("train/loss", "val/loss", "val/accuracy", "lr")
        }
        progress = run.trainer.progress
        self._steps_per_epoch = max(1, progress.steps_per_epoch)
        self._lr_target = None
        self._message(f"training into {run.run_dir.path} ({run.description})")
        run.trainer.start()
        self._last_state = "running"
        self.action_refresh_runs()

    # -- steering --
    def action_pause(self) -> None:
        t = self.trainer
        if t is None:
            return
        if t.state == "running":
            t.pause()
            self._message("paused: space resumes, n steps once")
        elif t.state == "paused":
            t.resume()
            self._message("resumed")

    def action_step(self) -> None:
        t = self.trainer
        if t is not None and t.state == "paused":
            t.step_once()
        elif t is not None:
            self.notify("Pause first (space): n steps once while paused.")

    def action_stop(self) -> None:
        t = self.trainer
        if t is not None and t.state in ("running", "paused"):
            t.stop()
            self._message("stopping after the current step…")

    def action_lr(self, factor: float) -> None:
        t = self.trainer
        if t is None or t.state not in ("running", "paused"):
            self.notify("No run is training.")
            return
        # Start from the lr last asked for: a change applies at the next step, so while
        # paused progress.lr still shows the old one and two presses would only count once.
        lr = (self._lr_target or t.progress.lr or t.config.lr) * factor
        t.set_lr(lr)
        self._lr_target = lr
        self._message(f"lr → {lr:.3g} (from the next step)")

    def action_smoothing(self, delta: float) -> None:
        self.smoothing = round(min(0.99, max(0.0, self.smoothing + delta)), 2)
        for series in [*self.series.values(), *self.overlays.values()]:
            series.smoothing = self.smoothing
        self.notify(f"smoothing {self.smoothing:.2f}", timeout=2)
        self._redraw()

    def action_logy(self) -> None:
        if self.plot is not None:
            self.plot.logy = not self.plot.logy
            self._redraw()

    def action_xaxis(self) -> None:
        if self.plot is not None:
            order = ["step", "epoch", "time"]
            self.plot.xaxis = order[(order.index(self.plot.xaxis) + 1) % len(order)]
            self.notify(f"x axis: {self.plot.xaxis}", timeout=2)
            self._redraw()

    # -- draining --
    def _drain(self) -> None:
        if self.watch_reader is not None:
            self._drain_watch()
            return
        t = self.trainer
        if t is None:
            return
        points = t.buffer.drain()
        for p in points:
            series = self.series.get(p.name)
            if series is not None:
                series.append_point(p)
        self.drains += 1
        progress = t.progress
        if progress.state == self._last_state and progress.state not in ("running", "paused"):
            return  # the run ended and was reported: nothing moves any more
        self.query_one("#train-progress", Static).update(progress_text(progress))
        if points:
            self._redraw()
        if progress.state in ("running", "paused"):
            summary = f"▶ {progress.state} {progress.epoch}/{progress.epochs}"
            self.post_message(self.ProgressSummary(f"{summary} loss {_fmt(progress.train_loss)}"))
        if progress.state != self._last_state:
            self._last_state = progress.state
            if progress.state in ("finished", "stopped", "failed"):
                self._run_ended(t)

    def _run_ended(self, t: Trainer) -> None:
        if t.state == "failed":
            self._message(f"run failed: {t.error}", error=True)
        else:
            self._message(
                f"run {t.state}; the trained model is `model` in the REPL; run dir {self.run_dir}"
            )
        self.post_message(self.ProgressSummary(""))
        self.post_message(self.RunEnded(t.state))
        self.action_refresh_runs()

    def _redraw(self) -> None:
        if self.plot is None:
            return
        from widgets.monitor.loss_plot import PlotData

        self.plot.draw(
            PlotData(
                train=self.series.get("train/loss"),
                val=self.series.get("val/loss"),
                accuracy=self.series.get("val/accuracy"),
                steps_per_epoch=self._steps_per_epoch,
                overlays=self.overlays,
            )
        )

    def _message(self, text: str, error: bool = False) -> None:
        msg = self.query_one("#train-message", Static)
        msg.update(text)
        msg.set_class(error, "-error")

    # -- past runs --
    def action_refresh_runs(self) -> None:
        if self.ready:
            self._list_runs()

    @work(thread=True, exit_on_error=False, group="runs", exclusive=True)
    def _list_runs(self) -> None:
        from tui.core.train.runs import list_runs

        runs = list_runs(self.workspace)
        self.app.call_from_thread(self._show_runs, runs)

    def _show_runs(self, runs: list[Any]) -> None:
        table = self.query_one("#runs", DataTable)
        cursor = table.cursor_row
        table.clear()
        for r in runs:
            table.add_row(
                r.name,
                r.status,
                str(r.last_step or 0),
                _fmt(r.best_val_loss),
                "✓" if r.name in self.overlays else "",
                key=str(r.path),
            )
        if runs:
            table.move_cursor(row=min(cursor, len(runs) - 1))

    def action_compare(self) -> None:
        table = self.query_one("#runs", DataTable)
        if table.row_count == 0:
            self.notify("No past runs in this workspace yet.")
            return
        key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        path = Path(str(key))
        if path.name in self.overlays:
            del self.overlays[path.name]
            self._redraw()
            self.action_refresh_runs()
            return
        self._load_overlay(path)

    @work(thread=True, exit_on_error=False, group="overlay")  # not "runs": exclusive there
    def _load_overlay(self, path: Path) -> None:
        from tui.core.train.runs import MetricsReader
        from tui.core.train.series import MetricSeries

        series = MetricSeries(path.name, self.smoothing)
        for p in MetricsReader(path / "metrics.jsonl").read_all():
            if p.name == "train/loss":
                series.append_point(p)
        self.app.call_from_thread(self._overlay_loaded, path.name, series)

    def _overlay_loaded(self, name: str, series: MetricSeries) -> None:
        self.overlays[name] = series
        self._redraw()
        self.action_refresh_runs()

    # -- watch mode --
    def watch_run(self, run_dir: Path) -> None:
        """Follow a run written by another process (``dltui watch``)."""
        from tui.core.train.runs import MetricsReader
        from tui.core.train.series import MetricSeries

        self.watch_dir = run_dir
        self.watch_reader = MetricsReader(run_dir / "metrics.jsonl")
        self.series = {
            name: MetricSeries(name, self.smoothing)
            for name in ("train/loss", "val/loss", "val/accuracy", "lr")
        }
        self._message(f"watching {run_dir}")

    def stop_watching(self) -> None:
        self.watch_reader = None
        self.watch_dir = None

    def _drain_watch(self) -> None:
        # Reading a few lines of JSON is cheap; status.json is tiny.
        from tui.core.train.runs import read_status

        assert self.watch_reader is not None and self.watch_dir is not None
        points = self.watch_reader.read()
        for p in points:
            series = self.series.get(p.name)
            if series is not None:
                series.append_point(p)
        status = read_status(self.watch_dir) or {}
        state = status.get("state", "waiting for the run to start")
        train = self.series["train/loss"]
        last = train.last
        step = train.last_step or 0
        text = f"watching {self.watch_dir.name}: {state}  step {step}  loss {_fmt(last)}"
        if status.get("error"):
            text += f"  error: {status['error']}"
        self.query_one("#train-progress", Static).update(text)
        if status.get("steps_per_epoch"):
            self._steps_per_epoch = int(status["steps_per_epoch"])
        self.drains += 1
        if points:
            self._redraw()

    def stop_for_quit(self) -> None:
        """Stop a training run and wait briefly, so the process can exit cleanly."""
        t = self.trainer
        if t is not None and t.state in ("running", "paused"):
            t.stop()
            t.join(timeout=5)

    @property
    def training(self) -> bool:
        return self.trainer is not None and self.trainer.state in ("running", "paused")
