"""A new user's first run: F4 then s, typed at once, trains the default settings, whether
torch has loaded yet or not; the s never lands in the REPL's input."""

from __future__ import annotations

from conftest import send_keys, wait_engine, wait_until

from widgets.monitor.pane import MonitorPane
from widgets.repl.input import ReplInput


async def _trains_then_stop(pilot, pane: MonitorPane) -> None:
    await wait_until(pilot, lambda: pane.trainer is not None, "the run to be prepared")
    trainer = pane.trainer
    assert trainer is not None
    await wait_until(pilot, lambda: trainer.progress.step > 0, "the first steps")
    send_keys(pilot, "x")
    await wait_until(pilot, lambda: not trainer.state.active, "the stop")
    assert trainer.state == "stopped"


async def test_f4_then_s_at_once_trains(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_engine(pilot)
        # One burst, as typed fast: s is queued before the monitor's pane is shown.
        send_keys(pilot, "f4", "s")
        await wait_until(pilot, lambda: app.current_pane == "monitor", "the monitor")
        pane = app.query_one(MonitorPane)
        await _trains_then_stop(pilot, pane)
        assert app.query_one(ReplInput).text == ""


async def test_f4_then_s_before_torch_loaded_starts_when_it_has(make_app) -> None:
    app = make_app(hold_engine=True)
    async with app.run_test(size=(80, 24)) as pilot:
        send_keys(pilot, "f4", "s")
        await wait_until(pilot, lambda: app.current_pane == "monitor", "the monitor")
        pane = app.query_one(MonitorPane)
        await wait_until(pilot, lambda: pane._start_when_ready, "the start to be queued")
        assert pane.trainer is None
        app.release_engine.set()
        await _trains_then_stop(pilot, pane)
        assert app.query_one(ReplInput).text == ""
