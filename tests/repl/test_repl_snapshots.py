"""SVG snapshots of the REPL pane: a few inputs at 80x24 and 120x40, the help screen (F1),
and the inspector's detail view of a tensor.

Regenerate with ``pytest tests/test_snapshots.py --snapshot-update`` and look at the SVGs
before committing them. Each is taken with nothing running (the status line's spinner and
elapsed time are gone), text cursors not blinking, and deterministic tensors only. The
torch version is shown as a fixed string: the CI wheel and a GPU user's build differ.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from conftest import run_code, wait_engine, wait_repl
from textual.pilot import Pilot

from tui.app import DltuiApp
from tui.core.repl.history import History
from widgets.common.help_screen import HelpScreen
from widgets.repl.pane import ReplPane

SnapCompare = Callable[..., bool]
RunBefore = Callable[[Pilot], Awaitable[None]]

INPUTS = [
    "x = torch.arange(6).reshape(2, 3)",
    "y = torch.ones(2, 3)",
    "x * 2 + y",
    "print(x.shape, y.dtype)",
    "w = nn.Linear(3, 2)",
]


@pytest.fixture
def app(
    tmp_path: Path, data_dir: Path, no_cursor_blink: None, fixed_torch_version: None
) -> DltuiApp:
    return DltuiApp(device="cpu", history=History(tmp_path / "h.jsonl"))


async def settle(pilot: Pilot) -> None:
    """Nothing running, nothing queued, no worker left: the status line is still."""
    await wait_repl(pilot)
    assert not pilot.app.query_one(ReplPane).running


def typed(*more: str) -> RunBefore:
    async def run_before(pilot: Pilot) -> None:
        await wait_engine(pilot)
        for code in INPUTS:
            await run_code(pilot, pilot.app, code)  # type: ignore[arg-type]
        for keys in more:
            await pilot.press(*keys.split())
        await settle(pilot)

    return run_before


def test_repl_80x24(snap_compare: SnapCompare, app: DltuiApp) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=typed())


def test_repl_120x40(snap_compare: SnapCompare, app: DltuiApp) -> None:
    assert snap_compare(app, terminal_size=(120, 40), run_before=typed())


def test_help_screen_80x24(snap_compare: SnapCompare, app: DltuiApp) -> None:
    async def run_before(pilot: Pilot) -> None:
        await wait_engine(pilot)
        await pilot.press("f1")
        assert isinstance(pilot.app.screen, HelpScreen)
        await settle(pilot)

    assert snap_compare(app, terminal_size=(80, 24), run_before=run_before)


def test_inspector_detail_120x40(snap_compare: SnapCompare, app: DltuiApp) -> None:
    # Escape focuses the table on its first row, x: its detail fills the right column.
    assert snap_compare(app, terminal_size=(120, 40), run_before=typed("escape"))


def test_inspector_detail_80x24(snap_compare: SnapCompare, app: DltuiApp) -> None:
    # Narrow: Enter on the row shows the detail in the whole pane.
    assert snap_compare(app, terminal_size=(80, 24), run_before=typed("escape", "enter"))
