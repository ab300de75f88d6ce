"""Engine tests of the builder's stack editing (tui.core.builder.edits), without an app.

Each edit is checked on the stack's contents, on what it returns for the view (where to
re-propagate from, where the cursor goes) and on undo/redo taking it back and again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import nn

from tui.core.builder.edits import Change, StackEditor, missing_args, new_layer
from tui.core.builder.presets import PRESETS
from tui.core.builder.propagate import first_error, propagate
from tui.core.builder.spec import LayerSpec, LayerStack, input_text, parse_input

MLP = ["Flatten", "Linear", "ReLU", "Linear", "ReLU", "Linear"]


def mlp_editor() -> StackEditor:
    return StackEditor(PRESETS["Quickstart MLP"].copy())


def types(editor: StackEditor) -> list[str]:
    return [layer.type for layer in editor.stack.layers]


# -- new layers ---------------------------------------------------------------------------


def test_new_layer_sets_autos_then_the_given_args() -> None:
    assert new_layer("Linear") == LayerSpec("Linear", {"in_features": "auto"})
    assert new_layer("Linear", {"out_features": 8}).args == {
        "in_features": "auto",
        "out_features": 8,
    }
    assert new_layer("ReLU") == LayerSpec("ReLU", {})


def test_missing_args_names_required_arguments_still_unset() -> None:
    assert missing_args(new_layer("Linear")) == ["out_features"]
    assert missing_args(new_layer("Linear", {"out_features": 8})) == []
    assert missing_args(new_layer("Conv2d")) == ["out_channels", "kernel_size"]
    assert missing_args(new_layer("ReLU")) == []


# -- row edits ----------------------------------------------------------------------------


def test_add_after_the_cursor_and_on_an_empty_stack() -> None:
    editor = mlp_editor()
    change = editor.add_after(2, "Dropout", {"p": 0.25})
    assert change == Change(from_index=3, cursor=3)
    assert types(editor) == ["Flatten", "Linear", "ReLU", "Dropout", "Linear", "ReLU", "Linear"]
    assert editor.stack.layers[3].args == {"p": 0.25}

    empty = StackEditor(LayerStack((4,), "float32", []))
    assert empty.add_after(-1, "Linear", {"out_features": 2}) == Change(0, 0)
    assert empty.stack.layers == [LayerSpec("Linear", {"in_features": "auto", "out_features": 2})]
    assert propagate(empty.stack)[0].output_shape == (2,)


def test_insert_clamps_the_row_and_keeps_no_alias_of_the_layer() -> None:
    editor = mlp_editor()
    layer = LayerSpec("Tanh", {})
    assert editor.insert(99, layer) == Change(6, 6)
    assert types(editor) == [*MLP, "Tanh"]
    layer.args["x"] = 1  # the caller's object is not the stack's
    assert editor.stack.layers[6].args == {}
    assert editor.insert(-5, LayerSpec("Identity", {})) == Change(0, 0)
    assert types(editor)[0] == "Identity"


def test_delete_keeps_the_cursor_on_the_row_that_takes_its_place() -> None:
    editor = mlp_editor()
    assert editor.delete(2) == Change(2, 2)
    assert types(editor) == ["Flatten", "Linear", "Linear", "ReLU", "Linear"]
    rows = propagate(editor.stack)
    assert [r.output_shape for r in rows] == [(784,), (512,), (512,), (512,), (10,)]
    assert editor.delete(5) is None and editor.delete(-1) is None
    assert editor.undo_depth == 1


def test_duplicate_puts_an_equal_copy_below() -> None:
    editor = mlp_editor()
    assert editor.duplicate(3) == Change(4, 4)
    layers = editor.stack.layers
    assert types(editor) == ["Flatten", "Linear", "ReLU", "Linear", "Linear", "ReLU", "Linear"]
    assert layers[4] == layers[3] and layers[4] is not layers[3]
    assert layers[4].args is not layers[3].args
    assert editor.duplicate(7) is None


def test_move_swaps_with_the_neighbour_and_stops_at_the_ends() -> None:
    editor = mlp_editor()
    assert editor.move(2, -1) == Change(1, 1)
    assert types(editor) == ["Flatten", "ReLU", "Linear", "Linear", "ReLU", "Linear"]
    assert editor.move(1, 1) == Change(1, 2)
    assert types(editor) == MLP
    assert editor.move(0, -1) is None
    assert editor.move(5, 1) is None
    assert editor.undo_depth == 2


def test_set_args_replaces_a_row_and_an_unchanged_form_is_no_edit() -> None:
    editor = mlp_editor()
    assert editor.set_args(1, {"in_features": "auto", "out_features": 256}) == Change(1, 1)
    assert editor.stack.layers[1].args["out_features"] == 256
    rows = propagate(editor.stack)
    assert rows[1].output_shape == (256,) and rows[3].resolved_args["in_features"] == 256

    depth = editor.undo_depth
    assert editor.set_args(1, dict(editor.stack.layers[1].args)) is None
    assert editor.undo_depth == depth
    assert editor.set_args(9, {}) is None


def test_apply_fit_sets_the_value_propagation_found() -> None:
    editor = mlp_editor()
    editor.set_args(3, {"in_features": 100, "out_features": 512})
    bad = first_error(propagate(editor.stack))
    assert bad is not None and bad.index == 3 and bad.fit == {"in_features": 512}

    assert editor.apply_fit(bad) == Change(3, 3)
    assert editor.stack.layers[3].args == {"in_features": 512, "out_features": 512}
    assert first_error(propagate(editor.stack)) is None

    # A row with no one-argument fix changes nothing.
    softmax = StackEditor(LayerStack((4,), "int64", [LayerSpec("Softmax", {"dim": -1})]))
    row = first_error(propagate(softmax.stack))
    assert row is not None and not row.fit
    assert softmax.apply_fit(row) is None and softmax.undo_depth == 0


def test_apply_fit_inserts_the_missing_flatten_as_one_undoable_edit() -> None:
    editor = StackEditor(PRESETS["LeNet-style CNN"].copy())
    lenet = editor.stack
    editor.delete(6)  # the Flatten: Linear(auto -> 120) would get the (16, 5, 5) map
    editor.set_args(6, {"in_features": 400, "out_features": 120})
    bad = first_error(propagate(editor.stack))
    assert bad is not None and bad.index == 6
    assert bad.fit_insert == "Flatten" and bad.fit is None  # 16 * 5 * 5 is 400 already

    assert editor.apply_fit(bad) == Change(6, 7)  # the cursor stays on the Linear
    assert types(editor)[6:8] == ["Flatten", "Linear"]
    rows = propagate(editor.stack)
    assert first_error(rows) is None and rows[-1].output_shape == (10,)
    editor.undo()
    assert types(editor)[6] == "Linear"  # one undo takes the whole fit back
    editor.set_args(6, lenet.layers[7].args)
    editor.insert(6, LayerSpec("Flatten", {}))
    assert editor.stack == lenet


def test_set_input_reruns_every_row_and_keeps_the_cursor() -> None:
    editor = mlp_editor()
    assert editor.set_input((3, 32, 32)) == Change(0, None)
    assert editor.stack.input_shape == (3, 32, 32) and editor.stack.input_dtype == "float32"
    assert propagate(editor.stack)[1].resolved_args["in_features"] == 3 * 32 * 32
    assert editor.set_input((32,), "int64") == Change(0, None)
    assert editor.stack.input_dtype == "int64"
    assert editor.set_input((32,), "int64") is None


def test_input_text_round_trips_through_parse_input() -> None:
    assert parse_input("1, 28, 28") == ((1, 28, 28), "float32")
    assert parse_input("1x28x28") == ((1, 28, 28), "float32")
    assert parse_input("32 int64") == ((32,), "int64")
    with pytest.raises(ValueError, match="expected a shape like"):
        parse_input("a,b")
    for stack in (LayerStack((1, 28, 28)), LayerStack((32,), "int64")):
        assert input_text(stack) in ("1, 28, 28", "32 int64")
        assert parse_input(input_text(stack)) == (stack.input_shape, stack.input_dtype)


# -- whole stacks -------------------------------------------------------------------------


def test_load_preset_copies_it_and_undo_returns() -> None:
    editor = StackEditor(PRESETS["No hidden layer"].copy(), spec_path=Path("old.json"))
    assert editor.load_preset("LeNet-style CNN") == Change(0, 0)
    assert editor.stack == PRESETS["LeNet-style CNN"]
    assert editor.stack is not PRESETS["LeNet-style CNN"]
    assert editor.spec_path is None
    editor.delete(0)
    assert len(PRESETS["LeNet-style CNN"].layers) == 12  # the shared preset is untouched
    editor.undo()
    editor.undo()
    assert types(editor) == ["Flatten", "Linear"]


def test_replace_records_the_spec_path_even_when_the_stack_is_the_same() -> None:
    editor = mlp_editor()
    same = PRESETS["Quickstart MLP"].copy()
    assert editor.replace(same, Path("specs/mlp.json")) is None
    assert editor.spec_path == Path("specs/mlp.json") and editor.undo_depth == 0
    other = LayerStack(
        (2,), "float32", [LayerSpec("Linear", {"in_features": 2, "out_features": 1})]
    )
    assert editor.replace(other, Path("tiny.json")) == Change(0, 0)
    assert editor.stack == other and editor.spec_path == Path("tiny.json")
    editor.undo()
    assert types(editor) == MLP


def test_replace_from_a_repl_module() -> None:
    editor = mlp_editor()
    net = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.Tanh(), nn.Linear(64, 10))
    assert editor.replace_from_module(net, (1, 28, 28)) == Change(0, 0)
    assert types(editor) == ["Flatten", "Linear", "Tanh", "Linear"]
    assert editor.stack.layers[1].args == {"in_features": 784, "out_features": 64}
    rows = propagate(editor.stack)
    assert sum(r.params_total for r in rows) == sum(p.numel() for p in net.parameters())
    with pytest.raises(ValueError, match=r"nn\.Sequential"):
        editor.replace_from_module(nn.Linear(2, 2), (2,))
    with pytest.raises(ValueError, match="not in the layer catalogue"):
        editor.replace_from_module(nn.Sequential(nn.Bilinear(2, 2, 2)), (2,))
    assert types(editor) == ["Flatten", "Linear", "Tanh", "Linear"]  # refused: unchanged


# -- undo and redo ------------------------------------------------------------------------


def test_undo_and_redo_walk_the_history_both_ways() -> None:
    editor = mlp_editor()
    assert editor.undo() is None and editor.redo() is None
    editor.delete(2)
    editor.duplicate(0)
    assert editor.move(0, 1) is None  # two equal rows swapped: no edit
    editor.move(1, 1)
    after = editor.stack.copy()
    assert (editor.undo_depth, editor.redo_depth) == (3, 0)

    for expected in (
        ["Flatten", "Flatten", "Linear", "Linear", "ReLU", "Linear"],
        ["Flatten", "Linear", "Linear", "ReLU", "Linear"],
        MLP,
    ):
        assert editor.undo() == Change(0, None)
        assert types(editor) == expected
    assert editor.undo() is None
    assert (editor.undo_depth, editor.redo_depth) == (0, 3)

    for _ in range(3):
        assert editor.redo() == Change(0, None)
    assert editor.stack == after
    assert editor.redo() is None


def test_a_new_edit_forgets_what_was_undone() -> None:
    editor = mlp_editor()
    editor.delete(0)
    editor.undo()
    assert editor.redo_depth == 1
    editor.delete(5)
    assert editor.redo_depth == 0 and editor.redo() is None
    assert types(editor) == MLP[:5]


def test_edits_never_change_a_stack_handed_out_before() -> None:
    editor = mlp_editor()
    before = editor.stack
    snapshot = before.copy()
    editor.set_args(1, {"in_features": "auto", "out_features": 3})
    editor.set_input((2, 14, 14))
    editor.delete(0)
    assert before == snapshot  # a worker propagating it, or the undo list, sees it whole


def test_the_history_keeps_max_undo_edits() -> None:
    editor = StackEditor(LayerStack((4,), "float32", []), max_undo=3)
    for _ in range(5):
        editor.add_after(-1, "ReLU")
    assert editor.undo_depth == 3
    while editor.undo() is not None:
        pass
    assert len(editor.stack.layers) == 2  # the two oldest edits are forgotten
