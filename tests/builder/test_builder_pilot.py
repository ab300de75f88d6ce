"""Pilot tests of the layer-stack builder pane (F3), driven by keys as a user would.

Every expected number comes from a real ``torch.nn`` module built here (parameter counts,
output shapes, state_dict shapes), never from a hard-coded figure alone. Propagation runs
in a thread worker: tests wait for it (:func:`settle`), never sleep a guess.
"""

from __future__ import annotations

import runpy
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import torch
from conftest import run_code, wait_engine, wait_until
from textual import events
from textual.command import CommandList, CommandPalette
from textual.keys import _character_to_key
from textual.pilot import Pilot
from textual.widgets import Input, Static
from torch import nn

from tui.app import DltuiApp
from tui.core.builder.spec import LayerStack, load_spec_file
from tui.core.repl.history import History
from tui.core.repl.session import SessionInfo
from widgets.builder.layer_form import LayerFormDialog
from widgets.builder.pane import StackBuilder
from widgets.common.dialogs import CodeDialog, PickerDialog, PromptDialog

MAX_ROUNDS = 200
SHAPE, PARAMS = 3, 4  # columns of the builder table: #, layer, arguments, shape, params, share


def quickstart_mlp() -> nn.Sequential:
    """The PyTorch quickstart's network, as the tutorial writes it."""
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(28 * 28, 512),
        nn.ReLU(),
        nn.Linear(512, 512),
        nn.ReLU(),
        nn.Linear(512, 10),
    )


def spirals_mlp(features: int = 2) -> nn.Sequential:
    """The stack the builder starts with: 2 numbers in, 2 classes out (two spirals)."""
    return nn.Sequential(
        nn.Linear(features, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 2)
    )


DEFAULT_TYPES = ["Linear", "ReLU", "Linear", "ReLU", "Linear"]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def real_rows(model: nn.Sequential, input_shape: tuple[int, ...]) -> list[tuple[str, str]]:
    """(output shape without batch, params) of each layer, as the builder writes them."""
    x = torch.zeros(1, *input_shape)
    rows = []
    for layer in model:
        x = layer(x)
        rows.append((repr(tuple(x.shape[1:])), f"{n_params(layer):,}"))
    return rows


# -- driving the app ------------------------------------------------------------------


@pytest.fixture
async def pilot(tmp_path: Path, data_dir: Path) -> AsyncIterator[Pilot]:
    """The app at 120x40, engine loaded, builder pane shown and up to date."""
    app = DltuiApp(device="cpu", workspace=tmp_path, history=History(tmp_path / "h.jsonl"))
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_engine(pilot)
        await pilot.press("f3")
        await settle(pilot)
        yield pilot


def builder_of(pilot: Pilot) -> StackBuilder:
    return pilot.app.query_one(StackBuilder)


def up_to_date(builder: StackBuilder) -> bool:
    """Rows shown for the current stack: every row propagated, no "…" cell left."""
    if not builder.ready or builder.stack is None:
        return False
    n = len(builder.stack.layers)
    table = builder.table
    return (
        builder.propagated_version == builder.version
        and len(builder.rows) == n
        and table.row_count == n
        and all(str(table.get_row_at(i)[SHAPE]) != "…" for i in range(n))
    )


async def settle(pilot: Pilot) -> StackBuilder:
    """Wait until propagation has caught up with the stack (workers done, rows shown)."""
    builder = builder_of(pilot)
    for _ in range(MAX_ROUNDS):
        # The worker posts its rows as it ends: wait for it, then let the message land.
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        if up_to_date(builder):
            return builder
    raise AssertionError("the builder never caught up with its stack")


async def type_in(pilot: Pilot, text: str) -> None:
    """Type ``text`` into the focused Input as one burst of Key events, then wait until
    the Input holds it (a selected text is replaced, as when typing in a terminal).

    pilot.press waits for the app to go idle after every key, ~0.1 s a key here: long
    paths and names would cost seconds per test for nothing.
    """
    app = pilot.app
    widget = app.focused
    assert isinstance(widget, Input), f"typing needs an Input, not {widget}"
    start, end = sorted(widget.selection)
    expected = widget.value[:start] + text + widget.value[end:]
    for ch in text:
        app.post_message(events.Key(ch if ch.isalnum() else _character_to_key(ch), ch))
    await wait_until(pilot, lambda: widget.value == expected, f"{text!r} to be typed")


async def pick(pilot: Pilot, key: str, name: str) -> None:
    """Open a picker with ``key``, type ``name`` to filter it, take the first match."""
    await pilot.press(key)
    assert isinstance(pilot.app.screen, PickerDialog)
    await type_in(pilot, name)
    await pilot.press("enter")


async def add_layer(pilot: Pilot, name: str, **required: int) -> None:
    """a, the type name, Enter; then fill the form: required values typed, Enter on the
    others (which keeps them), so the last Enter saves."""
    await pick(pilot, "a", name)
    if required:
        form = pilot.app.screen
        assert isinstance(form, LayerFormDialog)
        for spec in form.ltype.params:
            if spec.name in required:
                await type_in(pilot, str(required[spec.name]))
            await pilot.press("enter")
    assert not isinstance(pilot.app.screen, (PickerDialog, LayerFormDialog))
    await settle(pilot)


async def go_to_row(pilot: Pilot, index: int) -> None:
    table = builder_of(pilot).table
    while table.cursor_row > index:
        await pilot.press("up")
    while table.cursor_row < index:
        await pilot.press("down")
    assert table.cursor_row == index


async def answer_prompt(pilot: Pilot, text: str | None) -> None:
    """Clear the prompt (home, ctrl+k), type ``text``, Enter; None: Enter on the offer."""
    assert isinstance(pilot.app.screen, PromptDialog)
    if text is not None:
        await pilot.press("home", "ctrl+k")
        await type_in(pilot, text)
    await pilot.press("enter")


def cells(builder: StackBuilder, column: int) -> list[str]:
    return [str(builder.table.get_row_at(i)[column]) for i in range(builder.table.row_count)]


def static_text(pilot: Pilot, selector: str) -> str:
    return str(pilot.app.screen.query_one(selector, Static).render())


def undo_depth_of(builder: StackBuilder) -> int:
    assert builder.editor is not None
    return builder.editor.undo_depth


def types_of(builder: StackBuilder) -> list[str]:
    assert builder.stack is not None
    return [layer.type for layer in builder.stack.layers]


# -- the walkthrough ------------------------------------------------------------------


async def test_walkthrough_from_preset_to_repl_export_and_spec(
    pilot: Pilot, tmp_path: Path
) -> None:
    app = pilot.app
    assert isinstance(app, DltuiApp)
    builder = builder_of(pilot)
    assert app.focused is builder.table

    # p, a few letters, Enter: the one-Linear preset.
    await pick(pilot, "p", "No hidden")
    await settle(pilot)
    assert types_of(builder) == ["Flatten", "Linear"]

    # Grow it into the quickstart MLP: each layer goes after the cursor.
    await go_to_row(pilot, 0)
    await add_layer(pilot, "Linear", out_features=512)
    await add_layer(pilot, "ReLU")
    await add_layer(pilot, "Linear", out_features=512)
    await add_layer(pilot, "ReLU")
    assert types_of(builder) == ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]

    reference = quickstart_mlp()
    expected = real_rows(reference, (1, 28, 28))
    assert list(zip(cells(builder, SHAPE), cells(builder, PARAMS), strict=True)) == expected
    totals = static_text(pilot, "#builder-totals")
    assert f"params {n_params(reference):,}" in totals
    assert "output (10,)" in totals
    assert static_text(pilot, "#builder-error") == ""

    # Break a shape: row 3's in_features typed as 100 where 512 arrives.
    await go_to_row(pilot, 3)
    await pilot.press("e")
    assert isinstance(app.screen, LayerFormDialog)
    await type_in(pilot, "100")  # in_features is focused, its text selected
    await pilot.press("enter", "enter", "enter")
    builder = await settle(pilot)
    with pytest.raises(RuntimeError):  # the real layer fails on the real input too
        nn.Linear(100, 512)(torch.zeros(1, 512))
    row = builder.rows[3]
    assert row.error is not None and "100" in row.error and "(512,)" in row.error
    assert cells(builder, SHAPE)[3].startswith("✗ expects last dim 100")
    assert cells(builder, SHAPE)[4:] == ["-", "-"]  # blocked below the error
    error = static_text(pilot, "#builder-error")
    assert "row 3" in error and "press f" in error and "in_features=512" in error

    # f applies the fitting value.
    await pilot.press("f")
    builder = await settle(pilot)
    assert builder.stack is not None
    assert builder.stack.layers[3].args["in_features"] == 512
    assert static_text(pilot, "#builder-error") == ""
    assert list(zip(cells(builder, SHAPE), cells(builder, PARAMS), strict=True)) == expected

    # m: the stack is built into the REPL namespace as `model`.
    await pilot.press("m")
    await app.workers.wait_for_complete()
    await pilot.pause()
    model = app.session.namespace["model"]
    assert isinstance(model, nn.Sequential)
    assert {k: v.shape for k, v in model.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()
    }
    assert model(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    # ...and the REPL can call it, typed there by keys.
    await pilot.press("f2")
    await run_code(pilot, app, "y = model(torch.randn(2, 1, 28, 28))")
    assert tuple(app.session.namespace["y"].shape) == (2, 10)
    await pilot.press("f3")
    assert app.focused is builder.table

    # E: code shown in a dialog and saved in the workspace as model.py; it runs.
    await pilot.press("E")
    assert isinstance(app.screen, CodeDialog)
    code_path = tmp_path / "model.py"
    exported = runpy.run_path(str(code_path))["build_model"]()
    assert {k: v.shape for k, v in exported.state_dict().items()} == {
        k: v.shape for k, v in reference.state_dict().items()
    }
    assert exported(torch.randn(2, 1, 28, 28)).shape == (2, 10)
    await pilot.press("escape")
    assert app.focused is builder.table

    # s: save the spec to a path typed in (relative: in the workspace); change the
    # stack; o: read it back.
    spec_path = tmp_path / "specs" / "mlp.json"
    spec_path.parent.mkdir()
    saved = builder.stack.copy()
    await pilot.press("s")
    await answer_prompt(pilot, "specs/mlp.json")
    assert load_spec_file(spec_path) == saved
    await go_to_row(pilot, 5)
    await pilot.press("x")
    await settle(pilot)
    assert builder.stack != saved
    await pilot.press("o")
    await answer_prompt(pilot, None)  # the last saved path is offered
    builder = await settle(pilot)
    assert builder.stack == saved
    assert builder.spec_path == spec_path
    assert "spec: specs/mlp.json" in static_text(pilot, "#builder-head")  # workspace-relative
    assert f"params {n_params(reference):,}" in static_text(pilot, "#builder-totals")


# -- the form -------------------------------------------------------------------------


async def test_bad_value_in_the_form_is_refused_inline_and_escape_cancels(pilot: Pilot) -> None:
    app = pilot.app
    builder = builder_of(pilot)
    await go_to_row(pilot, 2)  # the default stack's second Linear
    before = builder.stack.copy() if builder.stack else None
    undo_depth = undo_depth_of(builder)

    await pilot.press("e")
    form = app.screen
    assert isinstance(form, LayerFormDialog)
    await pilot.press("enter")  # to out_features
    assert app.focused is form.query_one("#arg-out_features", Input)
    await type_in(pilot, "abc")
    await pilot.press("ctrl+s")
    assert app.screen is form  # still open
    message = static_text(pilot, "#err-out_features")
    assert "expected int" in message and "'abc'" in message
    assert builder.stack == before

    # Enter on the last field tries to save too, and is refused the same way.
    await pilot.press("enter", "enter")
    assert app.screen is form
    assert app.focused is form.query_one("#arg-out_features", Input)

    await pilot.press("escape")
    assert app.screen is not form
    await settle(pilot)
    assert builder.stack == before
    assert undo_depth_of(builder) == undo_depth


async def test_cancelling_the_form_of_a_new_layer_adds_nothing(pilot: Pilot) -> None:
    builder = builder_of(pilot)
    before = builder.stack.copy() if builder.stack else None
    await pick(pilot, "a", "Linear")  # out_features is required: the form opens
    assert isinstance(pilot.app.screen, LayerFormDialog)
    await pilot.press("escape")
    await settle(pilot)
    assert builder.stack == before
    assert all(row.error is None for row in builder.rows)


# -- editing ---------------------------------------------------------------------------


async def test_delete_duplicate_move_undo_redo(pilot: Pilot) -> None:
    builder = builder_of(pilot)
    await pick(pilot, "p", "Quickstart")
    await settle(pilot)
    mlp = ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]
    assert types_of(builder) == mlp

    # x deletes the cursor row (the first ReLU); the shapes follow.
    await go_to_row(pilot, 2)
    await pilot.press("x")
    await settle(pilot)
    assert types_of(builder) == ["Flatten", "Linear", "Linear", "ReLU", "Linear"]
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 512), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
    )
    assert list(zip(cells(builder, SHAPE), cells(builder, PARAMS), strict=True)) == real_rows(
        model, (1, 28, 28)
    )

    # u brings it back, r deletes it again, ctrl+z / ctrl+y do the same.
    await pilot.press("u")
    await settle(pilot)
    assert types_of(builder) == mlp
    await pilot.press("r")
    await settle(pilot)
    assert len(types_of(builder)) == 5
    await pilot.press("ctrl+z")
    await settle(pilot)
    assert types_of(builder) == mlp
    await pilot.press("ctrl+y", "ctrl+z")
    await settle(pilot)
    assert types_of(builder) == mlp

    # c duplicates the cursor row below it, cursor on the copy.
    await go_to_row(pilot, 3)  # Linear 512 -> 512
    await pilot.press("c")
    await settle(pilot)
    assert types_of(builder) == ["Flatten", "Linear", "ReLU", "Linear", "Linear", "ReLU", "Linear"]
    assert builder.stack is not None
    assert builder.stack.layers[4] == builder.stack.layers[3]
    assert builder.stack.layers[4] is not builder.stack.layers[3]
    assert builder.table.cursor_row == 4
    expected_total = n_params(quickstart_mlp()) + n_params(nn.Linear(512, 512))
    assert builder.totals is not None and builder.totals.params_total == expected_total

    # K / shift+up move the cursor row up, J / shift+down down; the cursor follows.
    await go_to_row(pilot, 5)  # a ReLU
    await pilot.press("K")
    await settle(pilot)
    assert types_of(builder)[3:6] == ["Linear", "ReLU", "Linear"]
    assert builder.table.cursor_row == 4
    await pilot.press("shift+up")
    await settle(pilot)
    assert types_of(builder)[2:5] == ["ReLU", "ReLU", "Linear"]
    assert builder.table.cursor_row == 3
    await pilot.press("J", "shift+down")
    await settle(pilot)
    assert types_of(builder)[3:6] == ["Linear", "Linear", "ReLU"]
    assert builder.table.cursor_row == 5
    # Moving the first row up (or the last down) does nothing.
    await go_to_row(pilot, 0)
    await pilot.press("K")
    await settle(pilot)
    assert types_of(builder)[0] == "Flatten"

    # Undo walks every step back to the preset.
    for _ in range(4):
        await pilot.press("u")
    await settle(pilot)
    assert types_of(builder) == ["Flatten", "Linear", "ReLU", "Linear", "Linear", "ReLU", "Linear"]
    await pilot.press("u")
    await settle(pilot)
    assert types_of(builder) == mlp
    assert list(zip(cells(builder, SHAPE), cells(builder, PARAMS), strict=True)) == real_rows(
        quickstart_mlp(), (1, 28, 28)
    )


async def test_an_edit_waiting_behind_a_slow_propagation_is_not_lost(pilot: Pilot) -> None:
    """Two quick edits while propagation is busy: the rows must reflect both.

    Holding the builder's propagation lock stands in for a big stack whose propagation
    takes a while; the second edit supersedes the first run, whose rows never land.
    """
    builder = builder_of(pilot)
    await pick(pilot, "p", "Quickstart")
    await settle(pilot)
    with builder._propagate_lock:
        await go_to_row(pilot, 1)
        await pilot.press("e", "enter")
        await type_in(pilot, "256")
        await pilot.press("enter", "enter")  # Linear 784 -> 256
        await go_to_row(pilot, 5)
        await pilot.press("c")  # duplicate the last Linear (row 6 gets an error)
    await settle(pilot)
    assert builder.stack is not None
    assert builder.stack.layers[1].args["out_features"] == 256
    model = nn.Sequential(
        nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 512), nn.ReLU()
    )
    assert list(zip(cells(builder, SHAPE), cells(builder, PARAMS), strict=True))[:5] == real_rows(
        model, (1, 28, 28)
    )


# -- input shape -------------------------------------------------------------------------


async def test_input_shape_dialog(pilot: Pilot) -> None:
    app = pilot.app
    builder = builder_of(pilot)
    assert types_of(builder) == DEFAULT_TYPES  # the stack shown at start
    assert list(zip(cells(builder, SHAPE), cells(builder, PARAMS), strict=True)) == real_rows(
        spirals_mlp(), (2,)
    )

    await pilot.press("i")
    await answer_prompt(pilot, "5")
    await settle(pilot)
    assert builder.stack is not None and builder.stack.input_shape == (5,)
    assert list(zip(cells(builder, SHAPE), cells(builder, PARAMS), strict=True)) == real_rows(
        spirals_mlp(5), (5,)
    )
    assert "input (5,) float32" in static_text(pilot, "#builder-head")

    before = builder.stack.copy()
    await pilot.press("i")
    dialog = app.screen
    await answer_prompt(pilot, "a,b")
    assert app.screen is dialog
    assert "expected a shape like" in static_text(pilot, "#prompt-error")
    await pilot.press("escape")
    await settle(pilot)
    assert builder.stack == before


# -- pulling from the REPL ---------------------------------------------------------------


async def test_pull_a_typed_sequential_from_the_repl_by_the_palette(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, DltuiApp)
    # A pulled module keeps the builder's input shape: make it the images this net takes.
    await pick(pilot, "p", "No hidden")
    await settle(pilot)
    await pilot.press("f2")
    code = "net = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.Tanh(), nn.Linear(64, 10))"
    await run_code(pilot, app, code)
    net = app.session.namespace["net"]

    await pilot.press("ctrl+p")
    assert isinstance(app.screen, CommandPalette)
    await type_in(pilot, "pull nn.Sequential")
    command_list = app.screen.query_one(CommandList)
    await wait_until(pilot, lambda: command_list.option_count > 0, "the palette's matches")
    await pilot.press("enter")
    await answer_prompt(pilot, None)  # the REPL's only nn.Sequential is offered
    builder = await settle(pilot)
    assert app.focused is builder.table  # the builder pane is shown

    assert types_of(builder) == ["Flatten", "Linear", "Tanh", "Linear"]
    assert builder.totals is not None and builder.totals.params_total == n_params(net)
    assert list(zip(cells(builder, SHAPE), cells(builder, PARAMS), strict=True)) == real_rows(
        net, (1, 28, 28)
    )
    assert isinstance(builder.stack, LayerStack)


async def test_an_empty_stack_and_an_edit_that_changes_nothing(pilot: Pilot) -> None:
    app = pilot.app
    assert isinstance(app, DltuiApp)
    builder = builder_of(pilot)
    await pick(pilot, "p", "No hidden")
    await settle(pilot)
    await pilot.press("x", "x")
    await settle(pilot)
    assert types_of(builder) == []
    assert builder.totals is not None and builder.totals.output_shape == (1, 28, 28)
    assert "0 layers" in static_text(pilot, "#builder-head")
    await pilot.press("x", "c", "K", "e", "f")  # nothing under the cursor: no-ops
    await settle(pilot)
    assert types_of(builder) == [] and app.screen is app.screen_stack[0]

    await add_layer(pilot, "Flatten")  # the first row of an empty stack
    assert types_of(builder) == ["Flatten"]
    head = static_text(pilot, "#builder-head")
    assert "1 layer" in head and "1 layers" not in head
    assert cells(builder, SHAPE) == [repr((28 * 28,))]

    # Saving a form unchanged is not an edit: nothing new to undo.
    undo_depth = undo_depth_of(builder)
    await pilot.press("e", "ctrl+s")
    await settle(pilot)
    assert undo_depth_of(builder) == undo_depth

    await pilot.press("m")
    await app.workers.wait_for_complete()
    await pilot.pause()
    model = app.session.namespace["model"]
    assert [type(m) for m in model] == [nn.Flatten]


async def test_save_and_open_refuse_bad_paths_inline(pilot: Pilot, tmp_path: Path) -> None:
    app = pilot.app
    builder = builder_of(pilot)
    before = builder.stack.copy() if builder.stack else None

    await pilot.press("s")
    dialog = app.screen
    await answer_prompt(pilot, "no-such-folder/s.json")
    assert app.screen is dialog
    assert "does not exist" in static_text(pilot, "#prompt-error")
    await pilot.press("escape")

    (tmp_path / "bad.json").write_text('{"format": 1, "input_shape": [1, 28, 28], "layers": [{')
    await pilot.press("o")
    dialog = app.screen
    await answer_prompt(pilot, "bad.json")
    assert app.screen is dialog
    assert "bad.json:1:" in static_text(pilot, "#prompt-error")  # file, line and column
    await answer_prompt(pilot, "missing.json")
    assert app.screen is dialog
    assert "cannot read" in static_text(pilot, "#prompt-error")
    await pilot.press("escape")
    await settle(pilot)
    assert builder.stack == before
    assert not list(tmp_path.glob("**/s.json"))


async def test_keys_before_torch_is_loaded_say_so_and_change_nothing(
    tmp_path: Path, data_dir: Path
) -> None:
    app = DltuiApp(device="cpu", workspace=tmp_path, history=History(tmp_path / "h.jsonl"))
    gate = threading.Event()
    real_load = app.session.load

    def held_load() -> SessionInfo:  # the start-up worker: torch "loads" until released
        gate.wait(timeout=60)
        return real_load()

    app.session.load = held_load  # type: ignore[method-assign]
    async with app.run_test(size=(80, 24)) as pilot:
        try:
            await pilot.press("f3")
            builder = builder_of(pilot)
            assert "torch loading" in static_text(pilot, "#builder-head")
            await pilot.press("a", "p", "i", "m", "E", "s", "o", "f", "x")
            assert app.screen is app.screen_stack[0]  # no dialog opened
            assert builder.stack is None
            assert any("still loading" in n.message for n in app._notifications)
        finally:
            gate.set()
        await wait_engine(pilot)
        builder = await settle(pilot)
        assert types_of(builder) == DEFAULT_TYPES
