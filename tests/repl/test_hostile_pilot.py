"""The hostile corpus (tests/repl/hostile_inputs.py) driven through the app with Pilot.

One app for the whole corpus, inputs submitted one after another as a user would paste
them, while a run trains in the monitor and the terminal is resized every ten inputs:
after each, ``1+1`` evaluates and shows 2, the app is still running, and no terminal
control character reached the transcript; at the end the run is still training. A
second app checks what is about the screen beyond that: Tab on an object whose
``__dir__`` loops, output of a thread that prints after its submission ended.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
import textual.pilot
from conftest import press_tab, submit, wait_repl, wait_until
from hostile_inputs import HOSTILE
from textual.pilot import Pilot
from textual.widgets import Input, Static

from tui.app import DltuiApp
from tui.core.train.trainer import Trainer
from widgets.monitor.pane import MonitorPane
from widgets.repl.input import ReplInput
from widgets.repl.output import ReplOutput

# Threads in the corpus raise on purpose; pytest reports what the app shows in the REPL.
pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")

AppFactory = Callable[..., DltuiApp]
LOAD_TIMEOUT_S = 300.0
CONTROLS = {chr(c) for c in range(0x20) if chr(c) not in "\n\t"} | {"\x7f", "\x9b"}


async def wait_session(pilot: Pilot) -> None:
    """Wait for the REPL's namespace only: the builder's and monitor's warm-up is not
    what these tests are about."""
    app = pilot.app
    # import torch takes ~2 s, but a minute and more on a machine shared with other jobs.
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    while not app.session.loaded:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "timed out waiting for torch to load"
        await pilot.pause(0.05)  # a tick between checks, not a guess at the duration


async def paste_and_run(pilot: Pilot, source: str) -> None:
    """Put ``source`` in the input as a paste would, and press Enter (twice for a block)."""
    repl_input = pilot.app.query_one(ReplInput)
    repl_input.text = source
    repl_input.move_cursor(repl_input.document.end)
    await submit(pilot)


async def evaluates(pilot: Pilot, app: DltuiApp) -> None:
    output = app.query_one(ReplOutput)
    await paste_and_run(pilot, "1+1")
    await wait_repl(pilot)
    plain = list(output.plain)
    last_input = max(i for i, entry in enumerate(plain) if entry == ">>> 1+1")
    assert "2" in plain[last_input + 1 :], plain[last_input:]


SIZES = [(80, 24), (120, 40), (100, 30), (60, 20)]


async def start_a_long_run(pilot: Pilot, app: DltuiApp) -> Trainer:
    """A run in the monitor, started by keys, that lasts longer than the corpus."""
    await pilot.press("f4")
    pane = app.query_one(MonitorPane)
    await wait_until(pilot, lambda: pane.ready and pane.plot is not None, "the monitor")
    app.query_one("#train-epochs", Input).value = "100000"
    pane.focus_default()
    await pilot.press("s")
    await wait_until(pilot, lambda: pane.trainer is not None, "the run to start")
    trainer = pane.trainer
    assert trainer is not None
    await wait_until(pilot, lambda: trainer.progress.step > 0, "the first steps")
    await pilot.press("f2")
    return trainer


async def short_idle_wait(min_sleep: float = 0.0, max_sleep: float = 1.0) -> None:
    """Pilot's wait after each key, without waiting for the process to go idle: with a
    run training it never does, and every key would cost the full second (a harness
    cost only; every wait here is on a condition)."""
    await asyncio.sleep(0.02)


async def test_hostile_corpus_leaves_the_app_and_its_run_answering(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every hostile input, with a run training in the monitor and the terminal resized
    as it goes: the app answers, and the run is still training at the end."""
    assert len(HOSTILE) >= 100
    monkeypatch.setattr(textual.pilot, "wait_for_idle", short_idle_wait)
    app = make_app()
    output_entries = 0
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_session(pilot)
        trainer = await start_a_long_run(pilot, app)
        steps = trainer.progress.step
        output = app.query_one(ReplOutput)
        for i, (name, source, needs_interrupt) in enumerate(HOSTILE):
            if i % 10 == 0:
                await pilot.resize_terminal(*SIZES[(i // 10) % len(SIZES)])
            started = time.monotonic()
            await paste_and_run(pilot, source)
            if needs_interrupt:
                await wait_until(pilot, lambda: app.session.running, f"{name} to run")
                await pilot.press("ctrl+c")
            await wait_repl(pilot)
            await evaluates(pilot, app)
            assert app.is_running, name
            new = list(output.plain)[-(len(output.plain) - output_entries) :]
            for entry in new:
                assert not CONTROLS & set(entry), f"{name}: a control character reached {entry!r}"
            output_entries = len(output.plain)
            assert time.monotonic() - started < 60, f"{name} took too long"
        assert app.screen is app.screen_stack[0]
        assert output.size.height > 0 and app.query_one(ReplInput).size.height > 0
        # The run lived through all of it, and kept training.
        assert trainer.state == "running", trainer.error
        assert trainer.progress.step > steps
        trainer.stop()
        assert trainer.join(60) and trainer.state == "stopped", trainer.error


async def test_tab_on_a_looping_dir_and_late_thread_output(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_session(pilot)
        looping_dir = "class D:\n    def __dir__(self):\n        while True:\n            pass\n"
        await paste_and_run(pilot, looping_dir + "d = D()")
        await wait_repl(pilot)
        repl_input = app.query_one(ReplInput)
        # A big paste is shown without colours: highlighting it froze the UI for 20 s.
        await wait_until(pilot, lambda: repl_input.language == "python", "highlighting on")
        repl_input.text = "x" + ".y" * 5000
        assert repl_input.language is None
        repl_input.text = "d."
        assert repl_input.language == "python"
        repl_input.move_cursor(repl_input.document.end)
        started = time.monotonic()
        await press_tab(pilot)
        assert time.monotonic() - started < 10
        hint = str(app.query_one("#completion-hint", Static).render())
        assert "completion stopped" in hint
        repl_input.text = ""
        await evaluates(pilot, app)

        # A thread that prints after its submission has ended: the text still arrives.
        await paste_and_run(
            pilot,
            "import threading\ngo = threading.Event()\n"
            "threading.Thread(target=lambda: (go.wait(30), print('\\x1b[2Jlate line'))).start()",
        )
        await wait_repl(pilot)
        app.session.namespace["go"].set()
        output = app.query_one(ReplOutput)
        await wait_until(pilot, lambda: "␛[2Jlate line" in output.transcript, "the late line")
        await evaluates(pilot, app)
