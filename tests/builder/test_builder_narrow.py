"""Pilot tests of the builder at 80x24: every column stays in sight after a wide stack and
shrinks back after a narrow one; per-row mult-adds; ``f`` inserts a missing Flatten.

Expected numbers come from real ``torch.nn`` modules (parameter counts, shapes) and
torch's FlopCounterMode (mult-adds), never from a figure written here alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import torch
from conftest import wait_engine
from test_builder_pilot import builder_of, n_params, pick, settle, static_text, types_of
from textual.pilot import Pilot
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from tui.app import DltuiApp
from tui.core.builder.catalogue import AUTO
from tui.core.builder.spec import LayerSpec, LayerStack
from tui.core.repl.history import History
from tui.core.text import compact_count
from widgets.builder.pane import StackBuilder


@pytest.fixture
async def pilot(tmp_path: Path, data_dir: Path) -> AsyncIterator[Pilot]:
    """The app at 80x24, engine loaded, builder pane shown and up to date."""
    app = DltuiApp(device="cpu", workspace=tmp_path, history=History(tmp_path / "h.jsonl"))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_engine(pilot)
        await pilot.press("f3")
        await settle(pilot)
        yield pilot


def lenet() -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(400, 120),
        nn.ReLU(),
        nn.Linear(120, 84),
        nn.ReLU(),
        nn.Linear(84, 10),
    )


def column(builder: StackBuilder, key: str) -> list[str]:
    """The cells of the column ``key`` (None-safe: a dropped column has no cells)."""
    table = builder.table
    return [str(table.get_cell(str(i), key)) for i in range(table.row_count)]


def assert_every_column_in_sight(builder: StackBuilder) -> None:
    table = builder.table
    visible = table.scrollable_content_region.width
    assert table.virtual_size.width <= visible, (table.virtual_size.width, visible)
    right = 0
    for col in table.columns.values():
        right += col.get_render_width(table)
        assert right <= visible, f"column {col.label} ends at {right}, past {visible}"
        # Auto width: the column is as wide as its widest cell, so no cell is cut.
        assert col.auto_width
    assert table.scroll_x == 0 and table.max_scroll_x == 0


def real_mult_adds(layer: nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False) as counter:
        layer(x)
    return counter.get_total_flops() // 2  # one multiply-add is two flops


async def test_columns_fit_80_after_the_widest_preset_and_shrink_back(pilot: Pilot) -> None:
    builder = builder_of(pilot)
    assert_every_column_in_sight(builder)

    await pick(pilot, "p", "LeNet")
    await settle(pilot)
    assert_every_column_in_sight(builder)
    keys = [str(k.value) for k in builder.table.columns]
    assert keys[:6] == ["index", "layer", "args", "shape", "params", "mult_adds"]
    # Whole values, in their short forms: shapes without spaces, counts with units.
    model, x = lenet(), torch.zeros(1, 1, 28, 28)
    for i, layer in enumerate(model):
        macs = real_mult_adds(layer, x) if isinstance(layer, (nn.Conv2d, nn.Linear)) else None
        x = layer(x)
        shape = column(builder, "shape")[i]
        assert shape.replace(" ", "") == repr(tuple(x.shape[1:])).replace(" ", "")
        assert (
            column(builder, "params")[i] == compact_count(n_params(layer))
            or column(builder, "params")[i] == f"{n_params(layer):,}"
        )
        if macs is not None:
            assert column(builder, "mult_adds")[i] in (compact_count(macs), f"{macs:,}")
    assert column(builder, "args")[0] == "auto, 6, 5, padding=2"  # as nn.Conv2d is written
    wide = {
        str(k.value): c.get_render_width(builder.table) for k, c in builder.table.columns.items()
    }

    await pick(pilot, "p", "No hidden")
    await settle(pilot)
    assert_every_column_in_sight(builder)
    # Narrow again: the columns shrink back to the new cells, the share column is back.
    narrow = {
        str(k.value): c.get_render_width(builder.table) for k, c in builder.table.columns.items()
    }
    assert narrow["args"] < wide["args"] and narrow["layer"] < wide["layer"]
    assert column(builder, "args")[1] == "auto, 10"
    assert column(builder, "share")[1] == "100.0%"
    assert builder.table.columns[builder.table.coordinate_to_cell_key((0, 3))[1]].label.plain == (
        "output shape"
    )

    # At 120 columns there is room for the arguments by name.
    await pilot.resize_terminal(120, 40)
    await settle(pilot)
    assert column(builder, "args")[1] == "in_features=auto, out_features=10"
    assert_every_column_in_sight(builder)


async def test_a_wide_error_row_at_80_keeps_the_numbers_in_sight(pilot: Pilot) -> None:
    builder = builder_of(pilot)
    await pick(pilot, "p", "LeNet")
    await settle(pilot)
    assert builder.editor is not None
    # A Conv2d told to take 3 channels where 1 arrives: a long sentence in the shape cell.
    builder.set_stack(_lenet_with(0, {"in_channels": 3}))
    builder = await settle(pilot)
    assert column(builder, "shape")[0].startswith("✗")
    assert_every_column_in_sight(builder)


def _lenet_with(index: int, args: dict) -> LayerStack:
    from tui.core.builder.presets import PRESETS

    stack = PRESETS["LeNet-style CNN"].copy()
    stack.layers[index].args.update(args)
    return stack


async def test_f_inserts_the_missing_flatten_in_one_undoable_edit(pilot: Pilot) -> None:
    builder = builder_of(pilot)
    # A LeNet read from a spec without its Flatten, in_features written out (400).
    stack = _lenet_with(7, {"in_features": 400})
    del stack.layers[6]
    builder.set_stack(stack)
    builder = await settle(pilot)
    bad = builder.rows[6]
    assert bad.error is not None and "(16, 5, 5)" in bad.error
    error = static_text(pilot, "#builder-error")
    assert "row 6" in error and "press f to add Flatten before it" in error
    assert "in_features=5" not in error  # the old fit: per-position, output (16, 5, 120)

    await pilot.press("f")
    builder = await settle(pilot)
    assert types_of(builder)[6:8] == ["Flatten", "Linear"]
    assert builder.table.cursor_row == 7  # still on the fitted Linear
    assert static_text(pilot, "#builder-error") == ""
    assert builder.totals is not None and builder.totals.output_shape == (10,)
    assert builder.totals.params_total == n_params(lenet())

    await pilot.press("u")  # one undo takes the whole fit back
    builder = await settle(pilot)
    assert builder.stack == stack


async def test_a_linear_on_a_flat_input_of_the_wrong_size_still_sets_in_features(
    pilot: Pilot,
) -> None:
    builder = builder_of(pilot)
    builder.set_stack(
        LayerStack((20,), "float32", [LayerSpec("Linear", {"in_features": 7, "out_features": 3})])
    )
    builder = await settle(pilot)
    assert "press f to set in_features=20" in static_text(pilot, "#builder-error")
    await pilot.press("f")
    builder = await settle(pilot)
    assert builder.stack is not None and builder.stack.layers[0].args["in_features"] == 20
    assert types_of(builder) == ["Linear"]
    assert AUTO not in builder.stack.layers[0].args.values()
