"""The REPL pane (F2): input, transcript and the namespace inspector.

User code runs in a thread worker (group ``repl``), one submission at a time: what is
submitted while code runs, or before torch has finished importing, waits in a queue and
runs in order. The worker hands back a :class:`RunResult` and the inspector rows, never
tensors; statistics for the detail view come from another worker (group ``stats``).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from tui.core.repl.history import History
from tui.core.repl.inspect import (
    StatsCache,
    TensorStats,
    VarInfo,
    cuda_memory,
    describe_namespace,
    memory_by_device,
)
from tui.core.repl.session import RunResult, Session
from widgets.repl.input import ReplInput
from widgets.repl.inspector import Inspector
from widgets.repl.output import ReplOutput


class ReplPane(Horizontal):
    """Tensor REPL with the shape/dtype/device inspector beside it."""

    BINDINGS = [
        Binding(
            "ctrl+l", "clear_output", "Clear", id="repl.clear", tooltip="Clear the REPL output"
        ),
    ]

    @dataclass
    class Ran(Message):
        """A submission finished (posted from the worker thread)."""

        result: RunResult
        rows: list[VarInfo]
        totals: dict[str, int]
        cuda: dict[str, int] | None

    @dataclass
    class StatsReady(Message):
        stats: TensorStats

    @dataclass
    class BusyChanged(Message):
        """Code started (label) or stopped (None) running: for the status line."""

        label: str | None
        cuda: dict[str, int] | None = None

    def __init__(self, session: Session, history: History, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.session = session
        self.history = history
        self.pending: deque[str] = deque()
        self.running = False
        self.stats_cache = StatsCache()
        self._stats_wanted: str | None = None
        # (name, cache key) being computed: a run highlights its row twice (the table is
        # refilled, then the cursor restored), and each request started a full pass.
        self._stats_in_flight: tuple[str, object] | None = None
        self.runs_completed = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="repl-left"):
            yield ReplOutput(id="repl-output")
            yield ReplInput(self.history, lambda: self.session.namespace, id="repl-input")
            yield Static("", id="completion-hint")
        yield Inspector(id="inspector")

    def on_mount(self) -> None:
        output = self.query_one(ReplOutput)
        output.add_note(
            "dltui tensor REPL. Enter runs complete code, ctrl+j inserts a newline, "
            "Tab completes, ↑/↓ history, ctrl+r search, F1 help.",
            "dim",
        )
        if not self.session.loaded:
            output.add_note("torch is loading… what you type now runs once it is ready.")
        self.query_one(ReplInput).focus()

    def on_unmount(self) -> None:
        # A thread worker cannot be killed, and the executor's threads are joined at exit:
        # code still running when the app closes (`while True: pass`) would keep the
        # process alive forever after the screen has gone. Interrupt it instead.
        self.pending.clear()
        self.session.interrupt()

    # -- engine readiness and the run queue --
    def engine_ready(self) -> None:
        """Called by the app once torch is imported and the namespace exists."""
        info = self.session.info
        inspector = self.query_one(Inspector)
        if info is not None:
            inspector.default_device = info.device
            inspector.cuda_available = info.cuda_available
            note = f"torch {info.torch_version} ready; device = {info.device}"
            self.query_one(ReplOutput).add_note(note)
            if info.device_error:
                self.query_one(ReplOutput).add_note(info.device_error, "yellow")
        self._pump()

    @on(ReplInput.Submitted)
    def _submitted(self, event: ReplInput.Submitted) -> None:
        source = event.source
        self.history.add(source)
        repl_input = self.query_one(ReplInput)
        repl_input.text = ""
        note = None
        if not self.session.loaded:
            note = "(queued: runs once torch is ready)"
        elif self.running:
            note = "(queued: runs after the code that is running)"
        self.query_one(ReplOutput).add_input(source, note)
        self.pending.append(source)
        self._pump()

    def _pump(self) -> None:
        if self.running or not self.pending or not self.session.loaded:
            return
        source = self.pending.popleft()
        self.running = True
        self.post_message(self.BusyChanged("running"))
        self._run_code(source)

    @work(thread=True, exit_on_error=False, group="repl")
    def _run_code(self, source: str) -> None:
        try:
            result = self.session.run(source)
        except BaseException as exc:  # a bug of ours must not wedge the queue
            result = RunResult(source=source, error=f"dltui internal error: {exc!r}")
        try:
            ns = self.session.namespace
            rows = describe_namespace(ns, self.session.user_names())
            totals = memory_by_device(rows)
            cuda = cuda_memory()
        except Exception as exc:
            # The inspector failing must not replace what the user's code printed.
            rows, totals, cuda = [], {}, None
            note = f"(inspector not refreshed: dltui internal error: {exc!r})"
            notes = [n for n in (result.truncated_note, note) if n]
            result.truncated_note = "\n".join(notes)
        self.post_message(self.Ran(result, rows, totals, cuda))

    @on(Ran)
    def _ran(self, event: Ran) -> None:
        self.running = False
        self.runs_completed += 1
        self.query_one(ReplOutput).add_result(event.result)
        self.stats_cache.forget({r.name for r in event.rows})
        self.query_one(Inspector).update_rows(event.rows, event.totals)
        self.post_message(self.BusyChanged(None, event.cuda))
        self._pump()

    def interrupt(self) -> bool:
        """ctrl+c: interrupt running code and drop the queue. False when nothing ran."""
        dropped = len(self.pending)
        self.pending.clear()
        if dropped:
            self.query_one(ReplOutput).add_note(f"dropped {dropped} queued submission(s)")
        return self.session.interrupt() or dropped > 0

    def clear_input(self) -> bool:
        repl_input = self.query_one(ReplInput)
        if not repl_input.text:
            return False
        repl_input.text = ""
        return True

    def action_clear_output(self) -> None:
        self.query_one(ReplOutput).clear_output()

    def reset_namespace(self) -> None:
        if self.running:
            self.notify("Code is running: interrupt it (ctrl+c) first.", severity="warning")
            return
        if not self.session.loaded:
            self.notify("torch is still loading.", severity="warning")
            return
        self.session.reset()
        self.stats_cache.forget(set())
        self.query_one(Inspector).update_rows([], {})
        self.query_one(ReplOutput).add_note("namespace reset: preloaded names only")

    # -- completion hint --
    @on(ReplInput.CompletionHint)
    def _hint(self, event: ReplInput.CompletionHint) -> None:
        hint = self.query_one("#completion-hint", Static)
        # Plain text, not markup: the current candidate is marked "[shape]", which markup
        # would read as a style tag and drop from the hint.
        hint.update(Content(event.text))
        hint.set_class(bool(event.text), "-shown")

    # -- inspector hand-offs --
    @on(ReplInput.LeaveRequested)
    def _focus_inspector(self) -> None:
        self.query_one(Inspector).table.focus()

    @on(Inspector.BackRequested)
    def _focus_input(self) -> None:
        self.remove_class("-detail")
        self.query_one(ReplInput).focus()

    @on(Inspector.DetailToggled)
    def _toggle_detail(self) -> None:
        self.toggle_class("-detail")

    @on(Inspector.CodeRequested)
    def _write_code(self, event: Inspector.CodeRequested) -> None:
        self.remove_class("-detail")
        repl_input = self.query_one(ReplInput)
        repl_input.set_code(event.code)
        repl_input.focus()

    @on(Inspector.StatsRequested)
    def _stats_requested(self, event: Inspector.StatsRequested) -> None:
        obj = self.session.namespace.get(event.name)
        if obj is None:
            return
        cached = self.stats_cache.get(event.name, obj)
        if cached is not None:
            self.query_one(Inspector).show_stats(cached)
            return
        in_flight = (event.name, StatsCache.key(obj))
        if in_flight == self._stats_in_flight:
            return  # the same numbers are on their way
        self._stats_in_flight = in_flight
        self._stats_wanted = event.name
        self._compute_stats(event.name)

    # Not exclusive: cancelling a thread worker does not stop it, and a cancelled worker
    # makes waiters fail. A request that is no longer the wanted one returns at once
    # instead, so scrolling through rows of big tensors computes only the last.
    @work(thread=True, exit_on_error=False, group="stats")
    def _compute_stats(self, name: str) -> None:
        if name != self._stats_wanted:
            return
        obj = self.session.namespace.get(name)
        if obj is None:
            return
        try:
            stats = self.stats_cache.compute(name, obj)
        except Exception as exc:
            stats = TensorStats(name=name, lines=[("statistics", f"unavailable: {exc}")])
        self.post_message(self.StatsReady(stats))

    @on(StatsReady)
    def _stats_ready(self, event: StatsReady) -> None:
        if self._stats_in_flight is not None and self._stats_in_flight[0] == event.stats.name:
            self._stats_in_flight = None
        self.query_one(Inspector).show_stats(event.stats)

    # -- objects handed over by other panes --
    def announce(self, note: str) -> None:
        """Write ``note`` and refresh the inspector: another pane changed the namespace."""
        self.query_one(ReplOutput).add_note(note, "bold green")
        self._refresh_rows()

    @work(thread=True, exit_on_error=False, group="inspector")
    def _refresh_rows(self) -> None:
        rows = describe_namespace(self.session.namespace, self.session.user_names())
        self.post_message(self.RowsRefreshed(rows, memory_by_device(rows)))

    @dataclass
    class RowsRefreshed(Message):
        rows: list[VarInfo]
        totals: dict[str, int]

    @on(RowsRefreshed)
    def _rows_refreshed(self, event: RowsRefreshed) -> None:
        self.query_one(Inspector).update_rows(event.rows, event.totals)
