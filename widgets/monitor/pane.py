"""The training monitor pane (F4): configure, start, steer and watch a run.

The trainer runs in its own thread (``tui.core.train.trainer``); this pane drains its
metric buffer on a 4 Hz timer, never one message per step, and redraws the plot from
bounded data, at most about once a second. Hidden behind another pane it only keeps the
points (no text, plot or table updates: each costs bytes to the terminal and time on the
UI thread) and catches up when shown. In watch mode the same timer follows a dltui run
that another process writes (``dltui watch RUN_DIR``, by reading its metrics.jsonl
incrementally), or many runs of any kind (``dltui watch PATH...``: ``watch_mode``,
polled off the UI thread). The settings form (``run_form``), the runs list
(``runs_table``) and the plot (``loss_plot``) are widgets
of their own; turning settings into a run is the engine's ``prepare_run``.

The pane is given what it needs: the REPL session (its namespace and device) and a
callable returning a copy of the builder's stack.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widgets import Input, Static

from tui.core.text import first_line
from tui.core.train.config import RunState
from tui.core.train.handoff import ModelHandoff
from tui.core.train.settings import BUILDER, PrepareError, RunSettings, settings_from_form
from widgets.common.focus import focus_now
from widgets.common.text_update import set_text
from widgets.monitor.fitting import FitOffer, fit_hint
from widgets.monitor.keys import MONITOR_BINDINGS
from widgets.monitor.run_form import RunForm
from widgets.monitor.runs_table import RunsTable
from widgets.monitor.system_strip import SystemStrip
from widgets.monitor.watch_mode import WatchSources

if TYPE_CHECKING:
    from tui.core.builder.spec import LayerStack
    from tui.core.repl.session import Session
    from tui.core.train.prepare import PreparedRun
    from tui.core.train.runs import MetricsReader, RunInfo
    from tui.core.train.series import MetricSeries
    from tui.core.train.trainer import Trainer
    from widgets.monitor.loss_plot import LossPlot

DRAIN_INTERVAL = 0.25
# Each plot repaint costs the terminal a few KB over SSH: new points are drawn on a timer
# of their own, a little under a second, so every second still sees one (the budget).
PLOT_EVERY = 0.9
SUMMARY_EVERY = 1.0  # the progress line and the status line's progress text, likewise
SERIES = ("train/loss", "val/loss", "val/accuracy", "lr")


class MonitorPane(FitOffer, WatchSources, Vertical):
    """Config form, progress, loss plot and the workspace's runs."""

    BINDINGS = MONITOR_BINDINGS  # widgets/monitor/keys.py

    @dataclass
    class Prepared(Message):
        run: PreparedRun | None
        error: str | None

    @dataclass
    class RunEnded(Message):
        """A run of this pane ended (finished, stopped or failed); ``model_name`` is the
        REPL variable now holding its model ('' for a failed run)."""

        state: RunState
        model_name: str = ""

    @dataclass
    class PostMortem(Message):
        """A run paused on a non-finite loss; ``names`` are the REPL variables that hold
        its model, batch, loss and report."""

        step: int
        names: tuple[str, ...]

    @dataclass
    class ProgressSummary(Message):
        """A compact progress text for the status line of every pane ('' clears it)."""

        text: str

    def __init__(
        self,
        workspace: Path,
        session: Session,
        stack_source: Callable[[], LayerStack | None],
        **kwargs: Any,
    ) -> None:
        """``session`` is the REPL's (variables to train, its device); ``stack_source``
        returns a copy of the builder's stack, or None (called on the UI thread)."""
        super().__init__(**kwargs)
        self.workspace = workspace
        self.session = session
        self.stack_source = stack_source
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
        self._start_when_ready = False  # s was pressed while torch was loading
        self._system_feed: tuple[Any, Any] | None = None  # (app's SystemFeed, our callback)
        self._last_system: tuple[Any, str | None] | None = None  # the latest sample, device
        self._post_mortem_shown: Any = None  # the trainer's post-mortem last handed over
        self._last_state: RunState | None = None
        self.handoff = ModelHandoff()
        self.drains = 0
        self._plot_stale = False  # points arrived that the plot does not show yet
        self._summary = ""  # the status line's progress text, as last posted
        self._summary_at = 0.0
        self._progress_at = 0.0  # when the progress line was last updated

    def compose(self) -> ComposeResult:
        with Horizontal(id="monitor-top"):
            with Vertical(id="monitor-left"):
                yield RunForm(id="train-form")
                yield SystemStrip(id="system-strip")
            with Vertical(id="monitor-right"):
                yield Static("torch loading…", id="train-progress")
                yield Static("", id="train-message")
                yield Static("", id="plot-slot")
        yield RunsTable(id="runs")

    def on_mount(self) -> None:
        self.set_interval(DRAIN_INTERVAL, self._drain)
        self.set_interval(PLOT_EVERY, self._plot_tick)
        # The machine's figures under the form, from the app's sampler (every 2 s).
        feed = getattr(self.app, "system", None)
        if feed is not None:
            self._system_feed = (feed, self._system_sample)
            feed.subscribers.append(self._system_sample)
            if feed.sample is not None:
                self._system_sample(feed.sample, feed.device)

    def _system_sample(self, sample: Any, device: str | None) -> None:
        """A new system sample: shown now when the pane is, else when it is shown again
        (a hidden pane draws nothing)."""
        self._last_system = (sample, device)
        if self.display:
            self.query_one(SystemStrip).show_sample(sample, device)

    def on_unmount(self) -> None:
        if self._system_feed is not None:
            feed, show = self._system_feed
            feed.subscribers[:] = [s for s in feed.subscribers if s != show]

    def focus_default(self) -> None:
        focus_now(self.query_one(RunsTable))

    def engine_ready(self) -> None:
        self.ready = True
        watching = self.watched is not None or self.watch_reader is not None
        self.show_plot()
        if not watching:  # under dltui watch the line says what is watched
            self.query_one("#train-progress", Static).update(
                "no run yet: e edits the settings on the left, s starts a run"
            )
        self.action_refresh_runs()
        self._redraw()
        if self._start_when_ready:
            self._start_when_ready = False
            self.action_start()

    def show_plot(self) -> None:
        """Mount the plot in its slot (once). ``dltui watch`` calls it before torch is
        loaded: following logs needs no torch, so its plot does not wait for it."""
        if self.plot is not None:
            return
        from widgets.monitor.loss_plot import LossPlot

        self.plot = LossPlot(id="loss-plot")
        self.query_one("#monitor-right").mount(self.plot)
        self.query_one("#plot-slot").remove()

    @property
    def training(self) -> bool:
        return self.trainer is not None and self.trainer.state.active

    def _new_series(self) -> dict[str, MetricSeries]:
        from tui.core.train.series import MetricSeries

        return {name: MetricSeries(name, self.smoothing) for name in SERIES}

    # -- the form --
    def action_edit_form(self) -> None:
        self.query_one(RunForm).focus_first()

    def action_leave_form(self) -> None:
        self.focus_default()

    @on(Input.Submitted, ".train-input")
    def _form_submitted(self) -> None:
        self.action_start()

    # -- starting a run --
    def action_start(self) -> None:
        if not self.ready:
            # Under dltui watch torch loads only when asked for: a run needs it.
            load = getattr(self.app, "load_engine_once", None)
            if load is not None:
                load()
            # A new user presses F4 then s at once: the run starts when torch is in.
            self._start_when_ready = True
            self._message("the run starts once torch has loaded…")
            return
        if self.training:
            self.notify("A run is already training: stop it (x) first.", severity="warning")
            return
        if self._starting:
            return
        info = self.session.info
        try:
            settings = settings_from_form(
                self.query_one(RunForm).values(), device=info.device if info else "cpu"
            )
        except PrepareError as exc:
            self._message(exc.text(), error=True)
            return
        self._starting = True
        self.fit_settings = settings  # kept for f while this run's error is shown
        self._message("preparing: loading data and checking the model against it…")
        # The builder's stack is read here, on the UI thread, not from the worker.
        stack = self.stack_source() if settings.model == BUILDER else None
        self._prepare(settings, stack)

    @work(thread=True, exit_on_error=False, group="train-prepare")
    def _prepare(
        self, settings: RunSettings | None, stack: LayerStack | None, resume: Path | None = None
    ) -> None:
        from tui.core.train.prepare import prepare_run
        from tui.core.train.resume import resume_run

        namespace = self.session.namespace
        try:
            if resume is not None:  # the same engine path as dltui train --resume
                run = resume_run(resume, namespace=namespace, with_history=True)
            else:
                assert settings is not None
                run = prepare_run(
                    settings, workspace=self.workspace, stack=stack, namespace=namespace
                )
        except PrepareError as exc:
            self.post_message(self.Prepared(None, exc.text()))
            return
        except Exception as exc:
            # Whatever else escapes (a device error the engine did not foresee) must not
            # leave the monitor "starting" for good: it is shown, and s works again.
            self.post_message(self.Prepared(None, f"could not start: {first_line(exc)}"))
            return
        self.post_message(self.Prepared(run, None))

    @on(Prepared)
    def _prepared(self, event: Prepared) -> None:
        self._starting = False
        if event.run is None:
            error = event.error or "could not start"
            if not fit_hint(self.fit_settings, error):
                self.fit_settings = None
            hint = "; f fits the builder's stack to the data" if self.fit_settings else ""
            self._message(error + hint, error=True)
            return
        self.fit_settings = None
        self.stop_watching()
        run = event.run
        self.trainer = run.trainer
        self.run_dir = run.run_dir.path
        self.series = self._new_series()
        self._add_points(run.history)  # a resumed run's points up to its checkpoint
        self._steps_per_epoch = max(1, run.trainer.progress.steps_per_epoch)
        self._message(f"training into {_short(run.run_dir.path)} ({run.description})")
        # A non-finite loss pauses the run for a post-mortem in the REPL (_post_mortem).
        run.trainer.on_nan = "pause"
        self._post_mortem_shown = None
        run.trainer.start()
        self._last_state = RunState.RUNNING
        self.action_refresh_runs()

    def action_resume_run(self) -> None:
        """Resume the selected run; tui.core.train.resume decides whether it can."""
        path = self.query_one(RunsTable).selected_path()
        if self.watched is not None:
            self.notify("Resume is for this workspace's runs, not for watched ones.")
            return
        if not self.ready or self.training or self._starting or path is None:
            self.notify("Select a stopped or died run, with no run training, to resume it.")
            return
        self._starting = True
        self._message(f"resuming {path.name} from its last checkpoint…")
        self._prepare(None, None, resume=path)

    # -- steering --
    def action_pause(self) -> None:
        t = self.trainer
        if t is None:
            return
        if t.state == RunState.RUNNING:
            t.pause()
            self._message("paused: space resumes, n steps once")
        elif t.state == RunState.PAUSED:
            t.resume()
            self._message("resumed")

    def action_step(self) -> None:
        t = self.trainer
        if t is not None and t.state == RunState.PAUSED:
            t.step_once()
        elif t is not None:
            self.notify("Pause first (space): n steps once while paused.")

    def action_stop(self) -> None:
        if self.training:
            assert self.trainer is not None
            self.trainer.stop()
            self._message("stopping after the current step…")

    def action_lr(self, factor: float) -> None:
        t = self.trainer
        if t is None or not t.state.active:
            self.notify("No run is training.")
            return
        # Scales the schedule (a constant one too); presses before the next step compound.
        lr = t.scale_lr(factor)
        self._message(f"lr → {lr:.3g} (from the next step; a schedule goes on scaled)")

    def action_smoothing(self, delta: float) -> None:
        self.smoothing = round(min(0.99, max(0.0, self.smoothing + delta)), 2)
        for series in [*self.series.values(), *self.overlays.values()]:
            series.smoothing = self.smoothing
        if self.watched is not None:
            self.watched.set_smoothing(self.smoothing)
        self.notify(f"smoothing {self.smoothing:.2f}", timeout=2)
        self._redraw()

    def action_logy(self) -> None:
        if self.plot is not None:
            self.plot.logy = not self.plot.logy
            self._redraw()

    def action_xaxis(self) -> None:
        if self.plot is not None:
            # Epochs mean nothing to another program's log: not offered under watch.
            order = ["step", "time", "wall"] if self.watched else ["step", "epoch", "time", "wall"]
            if self.plot.xaxis not in order:
                self.plot.xaxis = "step"
            self.plot.xaxis = order[(order.index(self.plot.xaxis) + 1) % len(order)]
            self.notify(f"x axis: {self.plot.xaxis}", timeout=2)
            self._redraw()

    def stop_for_quit(self) -> None:
        """Stop a training run and wait briefly, so the process can exit cleanly."""
        t = self.trainer
        if t is not None and t.state.active:
            t.stop()
            t.join(timeout=5)

    # -- draining: one timer, from this process's trainer or a watched run --
    def _add_points(self, points: list[Any]) -> None:
        for p in points:
            series = self.series.get(p.name)
            if series is not None:
                series.append_point(p)

    def _drain(self) -> None:
        if self.watched is not None:
            self._drain_watched()
            return
        if self.watch_reader is not None:
            self._drain_watch()
            return
        t = self.trainer
        if t is None:
            return
        from tui.core.train.progress import progress_text, summary_text

        points = t.buffer.drain()
        self._add_points(points)
        self.drains += 1
        self._plot_stale = self._plot_stale or bool(points)
        progress = t.progress
        if progress.state == self._last_state and not progress.state.active:
            return  # the run ended and was reported: nothing moves any more
        changed = progress.state != self._last_state
        now = time.monotonic()
        # The status line shows on every pane: its text moves at every drain (the loss),
        # so it is sent at most once a second, and at once when the state changes.
        if changed or now - self._summary_at >= SUMMARY_EVERY:
            self._summary_at = now
            summary = summary_text(progress)
            if progress.state.active and summary != self._summary:
                self._summary = summary
                self.post_message(self.ProgressSummary(summary))
        # Hidden (another pane shown), the pane does no rendering work at all: the points
        # are kept, and _catch_up shows them when the pane is shown again.
        if self.display:
            # The progress line moves at every drain too (step, speed): once a second.
            if changed or now - self._progress_at >= SUMMARY_EVERY:
                self._progress_at = now
                set_text(self.query_one("#train-progress", Static), progress_text(progress))
            if self.run_dir is not None:  # the runs list shows this run's live state
                self.query_one(RunsTable).set_live(self.run_dir, progress.state, progress.step)
        if changed:
            self._last_state = progress.state
            if progress.state.ended:
                self._run_ended(t)
            elif progress.state == RunState.PAUSED and t.post_mortem is not None:
                self._post_mortem(t)

    def _post_mortem(self, t: Trainer) -> None:
        """The run paused on a non-finite value: its model, batch, loss and report go to
        the REPL (never over the user's own variables), and the message says what next."""
        pm = t.post_mortem
        if pm is None or pm is self._post_mortem_shown:
            return
        self._post_mortem_shown = pm
        names = [
            self.handoff.bind_named(self.session.namespace, base, value)
            for base, value in pm.names().items()
        ]
        report = pm.report
        self._message(
            f"paused: non-finite loss at step {report.step}: {report.where}. In the REPL: "
            f"{', '.join(names)}; space retries the step, x stops",
            error=True,
        )
        self.post_message(self.PostMortem(report.step, tuple(names)))

    def _plot_tick(self) -> None:
        # Only _drain of this process's run marks the plot stale; watch modes redraw
        # from their own polls. Hidden, nothing is drawn: on_show catches up.
        if self._plot_stale and self.display:
            self._redraw()

    def on_show(self) -> None:
        """Shown again (F4): bring the progress, the plot and the live row up to date at
        once, not at the next drain."""
        if self._last_system is not None:
            self.query_one(SystemStrip).show_sample(*self._last_system)
        t = self.trainer
        if t is None or self.watched is not None or self.watch_reader is not None:
            return
        from tui.core.train.progress import progress_text

        set_text(self.query_one("#train-progress", Static), progress_text(t.progress))
        if self._plot_stale:
            self._redraw()
        if self.run_dir is not None:
            self.query_one(RunsTable).set_live(self.run_dir, t.progress.state, t.progress.step)

    def _run_ended(self, t: Trainer) -> None:
        name = ""
        if t.state == RunState.FAILED:
            self._message(f"run failed: {t.error}", error=True)
        else:  # never over the user's own `model`: see tui.core.train.handoff
            name, note = self.handoff.bind(self.session.namespace, t.model)
            where = _short(self.run_dir) if self.run_dir is not None else "?"
            self._message(f"run {t.state}; {note}; run dir {where}")
        self._summary = ""
        self.post_message(self.ProgressSummary(""))
        self.post_message(self.RunEnded(t.state, name))
        self.action_refresh_runs()

    def _drain_watch(self) -> None:
        # Reading a few lines of JSON is cheap; status.json is tiny. Damaged files show
        # what can be read (widgets.monitor.follow, over the engine's readers).
        from widgets.monitor.follow import poll_watched

        assert self.watch_reader is not None and self.watch_dir is not None
        poll = poll_watched(self.watch_reader, self.watch_dir, self.series["train/loss"])
        for name, a in poll.arrays.items():
            series = self.series.get(name)
            if series is not None:
                series.extend_arrays(a.steps, a.values, a.times)
        set_text(self.query_one("#train-progress", Static), poll.text)
        self._steps_per_epoch = poll.steps_per_epoch or self._steps_per_epoch
        self.drains += 1
        if poll.more:  # a long backlog: the next bounded read at once, not in 0.25 s
            self.call_after_refresh(self._drain)
        if poll.arrays and not poll.more:
            self._redraw()
        elif poll.arrays:
            self._plot_stale = True

    def _redraw(self) -> None:
        if self.plot is None:
            return
        self._plot_stale = False
        from widgets.monitor.loss_plot import PlotData

        if self.watched is not None:
            self.plot.draw(PlotData(None, None, None, overlays=self.watched.lines()))
            return
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

    # -- watch mode --
    def watch_run(self, run_dir: Path) -> None:
        """Follow a run written by another process (``dltui watch``)."""
        from tui.core.train.runs import MetricsReader
        from widgets.monitor.follow import watched_form

        self.watch_dir = run_dir
        self.watch_reader = MetricsReader(run_dir / "metrics.jsonl")
        self.series = self._new_series()
        # The watched run's own settings, read-only: not the defaults of a new run.
        self.query_one(RunForm).set_values(watched_form(run_dir), read_only=True)
        self._message(f"watching {run_dir}")

    def stop_watching(self) -> None:
        self.watched = None
        if self.watch_reader is not None:
            self.query_one(RunForm).set_values({}, read_only=False)
        self.watch_reader = None
        self.watch_dir = None

    # -- past runs --
    def action_refresh_runs(self) -> None:
        if self.watched is not None:  # under dltui watch: look for new runs now
            self.watched.follower.rescan_soon()
            return
        if self.ready:
            self._list_runs()

    @work(thread=True, exit_on_error=False, group="runs", exclusive=True)
    def _list_runs(self) -> None:
        from tui.core.train.runs import list_runs

        runs = list_runs(self.workspace)
        self.app.call_from_thread(self._show_runs, runs)

    def _show_runs(self, runs: list[RunInfo]) -> None:
        if self.watched is None:  # under dltui watch PATH... the list is the watched runs
            self.query_one(RunsTable).show(runs, self.overlays)

    def action_compare(self) -> None:
        if self.watched is not None:
            self.toggle_watched_run()
            return
        path = self.query_one(RunsTable).selected_path()
        if path is None:
            self.notify("No past runs in this workspace yet.")
            return
        if path.name in self.overlays:
            del self.overlays[path.name]
            self._redraw()
            self.action_refresh_runs()
            return
        self._load_overlay(path)

    @work(thread=True, exit_on_error=False, group="overlay")  # not "runs": exclusive there
    def _load_overlay(self, path: Path) -> None:
        from widgets.monitor.follow import load_overlay

        series, why = load_overlay(path, self.smoothing)
        self.app.call_from_thread(self._overlay_loaded, path.name, series, why)

    def _overlay_loaded(self, name: str, series: MetricSeries, why: str | None) -> None:
        if why is not None:  # compare says why it shows nothing, in one line
            self.notify(why, severity="warning")
            return
        self.overlays[name] = series
        self._redraw()
        self.action_refresh_runs()


def _short(path: Path) -> str:
    """``runs/2026-12-02_0337-spirals`` for a run under the working folder: the message
    row is one line, and a full /tmp/... path filled it before the run's own name."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
