"""Shared fixtures: a private data directory, an app factory, and helpers that drive the
REPL by keys and wait for it to finish (never by sleeping a guessed time)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, TextArea

from tui.app import DltuiApp
from tui.core.history import History
from widgets.repl import ReplPane
from widgets.repl_input import ReplInput
from widgets.repl_output import ReplOutput

# Bounded waits: generous for a slow, shared CI machine, but a hang still fails.
TIMEOUT_S = 60.0
MAX_RUNS = 200

# Characters pilot.press cannot take as themselves: "_" means "pause" to Pilot.
KEY_FOR_CHAR = {"_": "underscore", "\n": "ctrl+j"}


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
        await app.workers.wait_for_complete()  # the start-up worker imports torch
    await wait_until(pilot, lambda: app.engine_ready, "the engine to load")  # type: ignore[attr-defined]


def repl_idle(app: DltuiApp) -> bool:
    pane = app.query_one(ReplPane)
    return not pane.running and not pane.pending


async def wait_repl(pilot: Pilot) -> None:
    """Wait until the REPL has run everything submitted (nothing running, queue empty)."""
    app = pilot.app
    for _ in range(MAX_RUNS):
        # A run is a thread worker that ends by posting Ran: wait for the worker, then
        # let the message loop handle Ran (which may start the next queued run).
        await app.workers.wait_for_complete()
        await pilot.pause()
        if repl_idle(app):  # type: ignore[arg-type]
            await app.workers.wait_for_complete()  # the stats worker a run triggers
            await pilot.pause()
            return
    raise AssertionError("timed out waiting for the REPL to finish")


async def type_text(pilot: Pilot, text: str) -> None:
    """Type ``text`` key by key. A newline is ctrl+j; the auto-indent it inserts is
    removed with backspace, so ``text`` carries its own indentation exactly."""
    repl_input = pilot.app.query_one(ReplInput)
    for ch in text:
        if ch == "\n":
            await pilot.press("ctrl+j")
            _row, col = repl_input.cursor_location
            if col:
                await pilot.press(*["backspace"] * col)
            continue
        await pilot.press(KEY_FOR_CHAR.get(ch, ch))


async def run_code(pilot: Pilot, app: DltuiApp, code: str) -> str:
    """Type ``code``, press Enter, wait until the REPL is idle; return the new transcript."""
    await wait_engine(pilot)
    output = app.query_one(ReplOutput)
    before = len(output.plain)
    await type_text(pilot, code)
    await pilot.press("enter")
    if "\n" in code and repl_idle(app) and app.query_one(ReplInput).text:
        # A compound statement waits for its blank line, as in Python's REPL.
        await pilot.press("enter")
    await wait_repl(pilot)
    return "\n".join(list(output.plain)[before:])
