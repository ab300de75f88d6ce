"""SVG snapshots of the builder pane (F3): the quickstart MLP at 80x24 and 120x40, and a
row whose input does not fit.

Regenerate with ``pytest tests/test_builder_snapshots.py --snapshot-update`` and look at
the SVGs before committing them. Each snapshot is taken once propagation has caught up
(nothing running, no timings shown), with text cursors not blinking.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from conftest import wait_engine
from test_builder_pilot import go_to_row, pick, settle, type_in
from textual.pilot import Pilot

from tui.app import DltuiApp
from tui.core.repl.history import History

SnapCompare = Callable[..., bool]


@pytest.fixture
def app(
    tmp_path: Path, data_dir: Path, no_cursor_blink: None, fixed_torch_version: None
) -> DltuiApp:
    return DltuiApp(device="cpu", workspace=tmp_path, history=History(tmp_path / "h.jsonl"))


async def quickstart_mlp(pilot: Pilot) -> None:
    """F3, then p, "Quickstart", Enter; wait until every row has its shape."""
    await wait_engine(pilot)
    await pilot.press("f3")
    await pick(pilot, "p", "Quickstart")
    await settle(pilot)


def with_quickstart(
    then: Callable[[Pilot], Awaitable[None]] | None = None,
) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        await quickstart_mlp(pilot)
        if then is not None:
            await then(pilot)
        await settle(pilot)

    return run_before


def test_quickstart_mlp_80x24(snap_compare: SnapCompare, app: DltuiApp) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=with_quickstart())


def test_quickstart_mlp_120x40(snap_compare: SnapCompare, app: DltuiApp) -> None:
    assert snap_compare(app, terminal_size=(120, 40), run_before=with_quickstart())


async def _break_row_3(pilot: Pilot) -> None:
    # Row 3's in_features set to 100 where 512 arrives: an error row, blocked rows below.
    await go_to_row(pilot, 3)
    await pilot.press("e")
    await type_in(pilot, "100")
    await pilot.press("enter", "enter", "enter")


def test_error_row_80x24(snap_compare: SnapCompare, app: DltuiApp) -> None:
    assert snap_compare(app, terminal_size=(80, 24), run_before=with_quickstart(_break_row_3))


def test_error_row_120x40(snap_compare: SnapCompare, app: DltuiApp) -> None:
    assert snap_compare(app, terminal_size=(120, 40), run_before=with_quickstart(_break_row_3))


async def _lenet(pilot: Pilot) -> None:
    await pick(pilot, "p", "LeNet")


def test_lenet_80x24(snap_compare: SnapCompare, app: DltuiApp) -> None:
    # The widest preset: every column in sight at 80 (short forms, no scrolling).
    assert snap_compare(app, terminal_size=(80, 24), run_before=with_quickstart(_lenet))
