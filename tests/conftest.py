"""Shared fixtures: a private data directory, an app factory, and helpers that drive the
REPL by keys and wait for it to finish (never by sleeping a guessed time)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual import events
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Input, TextArea
from textual.worker import WorkerCancelled

from tui.app import DltuiApp
from tui.core.repl.history import History
from widgets.repl.input import ReplInput
from widgets.repl.output import ReplOutput
from widgets.repl.pane import ReplPane

# Bounded waits: generous for a slow, shared CI machine, but a hang still fails.
TIMEOUT_S = 60.0
MAX_RUNS = 200


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh DLTUI_DATA_DIR, so no test reads or writes the user's history."""
    path = tmp_path / "dltui-data"
    monkeypatch.setenv("DLTUI_DATA_DIR", str(path))
    return path


@pytest.fixture
def make_app(data_dir: Path) -> Callable[..., DltuiApp]:
    """Build a DltuiApp on the CPU with its history in the test's data directory.

    ``hold_engine=True`` keeps torch "loading" until ``app.release_engine.set()``: the
    queue test types before the engine is ready without racing an import that the
    rest of the session has already made fast.
    """

    def factory(history: History | None = None, hold_engine: bool = False) -> DltuiApp:
        app = DltuiApp(device="cpu", history=history)
        if hold_engine:
            gate = threading.Event()
            real_load = app.session.load

            def gated_load():  # runs in the start-up worker thread
                gate.wait(timeout=60)
                return real_load()

            app.session.load = gated_load  # type: ignore[method-assign]
            app.release_engine = gate  # type: ignore[attr-defined]
        return app

    return factory


@pytest.fixture
def no_cursor_blink(monkeypatch: pytest.MonkeyPatch) -> None:
    """Stop text cursors blinking, so a snapshot never catches the cursor half-way."""
    for cls in (TextArea, Input):
        original = cls._on_mount

        def on_mount(self, event, _original=original):  # type: ignore[no-untyped-def]
            self.cursor_blink = False
            return _original(self, event)

        monkeypatch.setattr(cls, "_on_mount", on_mount)


async def wait_until(pilot: Pilot, condition: Callable[[], bool], what: str) -> None:
    """Let the app (and its workers) run until ``condition()`` holds; fail if it never does."""
    deadline = time.monotonic() + TIMEOUT_S
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        # A short tick between checks of a condition, not a guess at how long it takes.
        await pilot.pause(0.01)


async def wait_engine(pilot: Pilot) -> None:
    """Wait until torch is imported and the namespace exists (app.engine_ready)."""
    app = pilot.app
    if not app.engine_ready:  # type: ignore[attr-defined]
        # Under dltui watch torch loads only when asked for (a pane or a run needs it).
        if app.watch_paths:  # type: ignore[attr-defined]
            await wait_until(pilot, app._panes_done.is_set, "the panes")  # type: ignore[attr-defined]
            app.load_engine_once()  # type: ignore[attr-defined]
        await wait_workers(app)  # type: ignore[arg-type]  # the start-up worker imports torch
    await wait_until(pilot, lambda: app.engine_ready, "the engine to load")  # type: ignore[attr-defined]


def repl_idle(app: DltuiApp) -> bool:
    pane = app.query_one(ReplPane)
    return not pane.running and not pane.pending


async def wait_workers(app: DltuiApp) -> None:
    """Wait for the app's workers to end, cancelled ones included.

    The stats worker is exclusive: a newer request cancels the one in flight, and
    wait_for_complete reports that as WorkerCancelled. That is the design, not a failure.
    """
    for _ in range(MAX_RUNS):
        try:
            await app.workers.wait_for_complete()
            return
        except WorkerCancelled:
            continue
    raise AssertionError("workers kept being cancelled")


async def wait_repl(pilot: Pilot) -> None:
    """Wait until the REPL has run everything submitted (nothing running, queue empty)."""
    app = pilot.app
    for _ in range(MAX_RUNS):
        # A run is a thread worker that ends by posting Ran: wait for the worker, then
        # let the message loop handle Ran (which may start the next queued run).
        await wait_workers(app)  # type: ignore[arg-type]
        await pilot.pause()
        if repl_idle(app):  # type: ignore[arg-type]
            await wait_workers(app)  # type: ignore[arg-type]  # the stats a run triggers
            await pilot.pause()
            return
    raise AssertionError("timed out waiting for the REPL to finish")


def send_keys(pilot: Pilot, *keys: str) -> None:
    """Post Key events, as pilot.press does, without waiting: the caller waits for the
    effect it expects. (pilot.press waits until the process looks idle after every key:
    40 ms a key, and up to a second while a worker keeps the process busy.)"""
    app = pilot.app
    for key in keys:
        if len(key) == 1:  # a character: named the way pilot.press names it
            name = key if key.isalnum() else _character_to_key(key)
            app.post_message(events.Key(name, key))
        else:
            app.post_message(events.Key(key, "\r" if key == "enter" else None))


async def type_text(pilot: Pilot, text: str) -> None:
    """Type ``text`` into the focused text widget, key by key.

    Each line goes in as one burst of Key events, then we wait until the widget holds it
    all. A newline is ctrl+j; the auto-indent it inserts is removed with backspace, so
    ``text`` carries its own indentation exactly.
    """
    app = pilot.app
    for i, line in enumerate(text.split("\n")):
        if i:
            await pilot.press("ctrl+j")
            _row, col = app.query_one(ReplInput).cursor_location
            if col:
                await pilot.press(*["backspace"] * col)
        if line:
            await _burst(pilot, line)


def _value(widget: object) -> str:
    return widget.text if isinstance(widget, TextArea) else widget.value  # type: ignore[attr-defined]


async def _burst(pilot: Pilot, chars: str) -> None:
    widget = pilot.app.focused
    assert isinstance(widget, (TextArea, Input)), f"typing needs a text widget, not {widget}"
    before = _value(widget)
    if isinstance(widget, TextArea):
        assert widget.cursor_location == widget.document.end, "type at the end of the input"
    else:
        assert widget.cursor_position == len(before), "type at the end of the input"
    send_keys(pilot, *chars)
    await wait_until(pilot, lambda: _value(widget) == before + chars, f"{chars!r} to be typed")


async def press_tab(pilot: Pilot) -> None:
    """Tab in the REPL input; wait until its candidates came back from the worker."""
    repl_input = pilot.app.query_one(ReplInput)
    await pilot.press("tab")
    await wait_until(pilot, lambda: not repl_input.completion_pending, "Tab's candidates")
    await pilot.pause()  # the hint is a message posted by the input


async def press_enter(pilot: Pilot) -> None:
    """Enter in the REPL input; wait until it took effect (it ran, or opened a line)."""
    repl_input = pilot.app.query_one(ReplInput)
    before = repl_input.text
    assert before.strip(), "Enter on an empty input does nothing to wait for"
    send_keys(pilot, "enter")
    await wait_until(pilot, lambda: repl_input.text != before, "Enter to be handled")


async def submit(pilot: Pilot) -> None:
    """Enter, and Enter again on the blank line a compound statement waits for."""
    repl_input = pilot.app.query_one(ReplInput)
    await press_enter(pilot)
    if repl_input.text:
        await press_enter(pilot)
    assert repl_input.text == "", f"not submitted: {repl_input.text!r}"


async def run_code(pilot: Pilot, app: DltuiApp, code: str) -> str:
    """Type ``code``, press Enter, wait until the REPL is idle; return the new transcript."""
    await wait_engine(pilot)
    output = app.query_one(ReplOutput)
    before = len(output.plain)
    await type_text(pilot, code)
    await submit(pilot)
    await wait_repl(pilot)
    # The plain copy is bounded: once full, counting from `before` would be wrong.
    assert len(output.plain) < (output.plain.maxlen or 0), "transcript copy full"
    return "\n".join(list(output.plain)[before:])


@pytest.fixture
def fixed_torch_version(monkeypatch: pytest.MonkeyPatch) -> None:
    """Show torch's version as "2.x": snapshots must not depend on the installed build."""
    from tui.core.repl.session import Session

    real_load = Session.load

    def load_with_a_fixed_version(self: Session):  # type: ignore[no-untyped-def]
        info = real_load(self)
        info.torch_version = "2.x"
        return info

    monkeypatch.setattr(Session, "load", load_with_a_fixed_version)
    # Nor on the machine's load: no CPU %, RSS or GPU figures in the status line.
    from widgets.common.status_line import SystemFeed

    monkeypatch.setattr(SystemFeed, "start", lambda self: self)
