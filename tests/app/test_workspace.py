"""The app's workspace is absolute from the start: REPL code that changes the current
folder (``os.chdir('/')``) moves nothing the app writes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import wait_engine

from tui.app import DltuiApp
from tui.core.builder.spec import LayerStack
from tui.core.repl.history import History

SPEC = {
    "format": 1,
    "input_shape": [2],
    "layers": [{"type": "Linear", "in_features": 2, "out_features": 3}],
}


async def test_export_lands_in_the_workspace_after_a_chdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    (home / "ws").mkdir(parents=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(home)
    app = DltuiApp(device="cpu", workspace="ws", history=History(tmp_path / "h.jsonl"))
    assert app.workspace == home / "ws" and app.workspace.is_absolute()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        os.chdir(elsewhere)  # as REPL code may
        builder = app.builder_pane
        assert builder.workspace == home / "ws"
        assert app.monitor_pane.workspace == home / "ws"
        builder.set_stack(LayerStack.from_dict(SPEC))
        await pilot.pause()
        builder.action_export()
        await pilot.pause()
        assert (home / "ws" / "model.py").exists()
        assert not (elsewhere / "model.py").exists()
