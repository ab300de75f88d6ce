"""The REPL pane (F2): input, transcript and the namespace inspector.

User code runs in a thread worker (group ``repl``), one submission at a time: what is
submitted while code runs, or before torch has finished importing, waits in a queue and
runs in order. The worker hands back a :class:`RunResult` and the inspector rows, never
tensors; statistics for the detail view come from another worker (group ``stats``).

Nothing here runs user code on the UI thread: describing the namespace (``isinstance``
can call a hostile ``__class__``), statistics and Tab completion (``dir()``) run in
workers under a time bound. Output printed outside any submission (threads the user
started, child processes) is drained from the session on a timer.
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Static

from tui.core.repl.completion import complete, current_token
from tui.core.repl.history import History
from tui.core.repl.inspect import (
    StatsCache,
    TensorStats,
    VarInfo,
    cuda_memory,
    describe_namespace,
    memory_by_device,
)
from tui.core.repl.interrupt import DeadlineExceeded, call_with_deadline
from tui.core.repl.session import RunResult, Session
from widgets.repl.input import ReplInput
from widgets.repl.inspector import Inspector
from widgets.repl.output import ReplOutput

COMPLETION_DEADLINE_S = 1.0
"""Tab gives up on an object whose ``__dir__`` or ``__getattr__`` runs longer."""
INSPECT_DEADLINE_S = 5.0
"""Describing the namespace for the inspector stops after this (it takes milliseconds)."""
STATS_DEADLINE_S = 60.0
"""Statistics of one variable stop after this (10^8 floats take ~3 s on a CPU)."""
BACKGROUND_DRAIN_S = 0.25


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
        """Statistics of ``name`` (None: not computed, the request was stale)."""

        name: str
        stats: TensorStats | None

    @dataclass
    class CompletionFound(Message):
        """Candidates for a Tab (posted from the completion worker)."""

        request: int
        token: str
        candidates: list[str]
        note: str | None = None

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
        # The name being computed: a run highlights its row twice (the table is refilled,
        # then the cursor restored), and each request started a full pass. A request for
        # it meanwhile is remembered and served (from the cache if unchanged) afterwards.
        self._stats_in_flight: str | None = None
        self._stats_again = False
        self.runs_completed = 0

    def compose(self) -> ComposeResult:
        with Vertical(id="repl-left"):
            yield ReplOutput(id="repl-output")
            yield ReplInput(self.history, id="repl-input")
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
        self.set_interval(BACKGROUND_DRAIN_S, self._drain_background)

    def _drain_background(self) -> None:
        text, note = self.session.background_output()
        if text or note:
            self.query_one(ReplOutput).add_background(text, note)

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

    @work(exit_on_error=False, group="repl")
    async def _run_code(self, source: str) -> None:
        # Every submission on the session's one REPL thread (not the shared pool), so
        # grad mode, autocast or the CUDA device set by one still hold in the next.
        future = self.session.thread.submit(lambda: self._run_submission(source))
        try:
            await asyncio.wrap_future(future)
        except BaseException as exc:  # a bug of ours must not wedge the queue
            result = RunResult(source=source, error=f"dltui internal error: {exc!r}")
            self.post_message(self.Ran(result, [], {}, None))

    def _run_submission(self, source: str) -> None:
        """Run ``source``, then describe the namespace (on the REPL thread)."""
        try:
            result = self.session.run(source)
        except BaseException as exc:  # a bug of ours must not wedge the queue
            result = RunResult(source=source, error=f"dltui internal error: {exc!r}")
        try:
            rows = self._describe()
            totals = memory_by_device(rows)
            info = self.session.info  # the session's device (cuda:1), not the current one
            cuda = cuda_memory(info.device if info is not None else None)
        except BaseException as exc:  # SystemExit from a hostile __class__ included
            # The inspector failing must not replace what the user's code printed.
            rows, totals, cuda = [], {}, None
            if isinstance(exc, DeadlineExceeded):
                note = f"(inspector not refreshed: describing took over {INSPECT_DEADLINE_S:g} s)"
            else:
                note = f"(inspector not refreshed: dltui internal error: {exc!r})"
            notes = [n for n in (result.truncated_note, note) if n]
            result.truncated_note = "\n".join(notes)
        self.post_message(self.Ran(result, rows, totals, cuda))

    def _describe(self) -> list[VarInfo]:
        """The inspector rows (call from a worker: it may run user code, so it is bounded)."""
        session = self.session
        return call_with_deadline(
            lambda: describe_namespace(session.namespace, session.user_names()),
            INSPECT_DEADLINE_S,
        )

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

    # -- completion --
    @on(ReplInput.CompletionRequested)
    def _completion_requested(self, event: ReplInput.CompletionRequested) -> None:
        self._complete(event.request, event.text_before_cursor)

    @work(thread=True, exit_on_error=False, group="complete")
    def _complete(self, request: int, before: str) -> None:
        namespace = self.session.namespace
        note = None
        try:
            token, candidates = call_with_deadline(
                lambda: complete(before, namespace), COMPLETION_DEADLINE_S
            )
        except DeadlineExceeded:
            token, candidates = current_token(before), []
            note = (
                f"completion stopped after {COMPLETION_DEADLINE_S:g} s "
                "(an object's __dir__ or __getattr__ takes too long)"
            )
        except BaseException as exc:  # a hostile __dir__ may raise anything
            token, candidates = current_token(before), []
            note = f"no completion: {type(exc).__name__} while listing attributes"
        self.post_message(self.CompletionFound(request, token, candidates, note))

    @on(CompletionFound)
    def _completion_found(self, event: CompletionFound) -> None:
        self.query_one(ReplInput).offer_completion(
            event.request, event.token, event.candidates, event.note
        )

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

    # The cache is looked up in the worker too: its key reads the object (data_ptr() of a
    # tensor subclass, parameters() of a module), and that can be user code.
    @on(Inspector.StatsRequested)
    def _stats_requested(self, event: Inspector.StatsRequested) -> None:
        self._stats_wanted = event.name
        if event.name == self._stats_in_flight:
            self._stats_again = True  # numbers are on their way; check them once more after
            return
        self._stats_in_flight = event.name
        self._stats_again = False
        self._compute_stats(event.name)

    # Not exclusive: cancelling a thread worker does not stop it, and a cancelled worker
    # makes waiters fail. A request that is no longer the wanted one returns at once
    # instead, so scrolling through rows of big tensors computes only the last.
    @work(thread=True, exit_on_error=False, group="stats")
    def _compute_stats(self, name: str) -> None:
        obj = self.session.namespace.get(name)
        if name != self._stats_wanted or obj is None:
            self.post_message(self.StatsReady(name, None))
            return
        try:
            stats = call_with_deadline(
                lambda: self.stats_cache.compute(name, obj), STATS_DEADLINE_S
            )
        except DeadlineExceeded:
            reason = f"unavailable: took over {STATS_DEADLINE_S:g} s"
            stats = TensorStats(name=name, lines=[("statistics", reason)])
        except BaseException as exc:  # an odd tensor subclass may raise anything
            stats = TensorStats(name=name, lines=[("statistics", f"unavailable: {exc}")])
        self.post_message(self.StatsReady(name, stats))

    @on(StatsReady)
    def _stats_ready(self, event: StatsReady) -> None:
        if self._stats_in_flight == event.name:
            self._stats_in_flight = None
        if self._stats_again and self._stats_wanted is not None:
            # Asked again while computing: the object may have changed since.
            self._stats_again = False
            self._stats_in_flight = self._stats_wanted
            self._compute_stats(self._stats_wanted)
        if event.stats is not None:
            self.query_one(Inspector).show_stats(event.stats)

    # -- objects handed over by other panes --
    def announce(self, note: str) -> None:
        """Write ``note`` and refresh the inspector: another pane changed the namespace."""
        self.query_one(ReplOutput).add_note(note, "bold green")
        self._refresh_rows()

    @work(thread=True, exit_on_error=False, group="inspector")
    def _refresh_rows(self) -> None:
        try:
            rows = self._describe()
        except BaseException:  # a hostile object: keep the rows shown
            return
        self.post_message(self.RowsRefreshed(rows, memory_by_device(rows)))

    @dataclass
    class RowsRefreshed(Message):
        rows: list[VarInfo]
        totals: dict[str, int]

    @on(RowsRefreshed)
    def _rows_refreshed(self, event: RowsRefreshed) -> None:
        self.query_one(Inspector).update_rows(event.rows, event.totals)
