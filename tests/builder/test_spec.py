"""Engine tests for stack specs (tui.core.builder.spec): JSON round trips, the design's
format, errors that name the place, typed shapes.
"""

from __future__ import annotations

import json

import pytest
from example_stacks import VARIED

from tui.core.builder.presets import PRESETS
from tui.core.builder.spec import LayerStack, SpecError, load_spec_file, parse_shape, save_spec_file

# --- spec files ------------------------------------------------------------------------------


@pytest.mark.parametrize("st", [*PRESETS.values(), *VARIED.values()])
def test_spec_round_trip(st: LayerStack, tmp_path) -> None:
    assert LayerStack.from_dict(json.loads(json.dumps(st.to_dict()))) == st
    path = tmp_path / "spec.json"
    save_spec_file(st, path)
    assert load_spec_file(path) == st
    assert [p.name for p in tmp_path.iterdir()] == ["spec.json"]  # no temp file left


def test_spec_json_matches_the_design_format() -> None:
    data = PRESETS["Quickstart MLP"].to_dict()
    assert data["format"] == 1 and data["input_shape"] == [1, 28, 28]
    assert "input_dtype" not in data
    assert data["layers"][1] == {"type": "Linear", "in_features": "auto", "out_features": 512}
    assert VARIED["embedding-layernorm"].to_dict()["input_dtype"] == "int64"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"format": 2, "input_shape": [1], "layers": []}, "format: unsupported format 2"),
        ({"format": 1, "layers": []}, "input_shape: missing"),
        ({"format": 1, "input_shape": [1, 0], "layers": []}, "input_shape: expected a list"),
        (
            {"format": 1, "input_shape": [4], "layers": [{"type": "ReLU"}, {"type": "Lineer"}]},
            "layers[1]: unknown layer type 'Lineer' (did you mean 'Linear'?)",
        ),
        (
            {"format": 1, "input_shape": [4], "layers": [{"type": "Linear", "in_features": 4}]},
            "layers[0].out_features: missing required argument",
        ),
        (
            {
                "format": 1,
                "input_shape": [1, 8, 8],
                "layers": [
                    {"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": "x"}
                ],
            },
            "layers[0].kernel_size: expected int or tuple of 2 ints, got 'x'",
        ),
        (
            {"format": 1, "input_shape": [4], "layers": [{"type": "ReLU", "inplce": True}]},
            "layers[0].inplce: ReLU has no such argument (did you mean 'inplace'?)",
        ),
        ({"format": 1, "input_shap": [4], "layers": []}, "input_shap: unknown field"),
        (
            # torch builds Linear(2, 0) without a word: the spec refuses it, naming the field.
            {"format": 1, "input_shape": [2], "layers": [{"type": "Linear", "out_features": 0}]},
            "layers[0].out_features: must be at least 1, got 0",
        ),
        (
            {
                "format": 1,
                "input_shape": [1, 8, 8],
                "layers": [
                    {"type": "Conv2d", "in_channels": 1, "out_channels": 2, "kernel_size": [3, 0]}
                ],
            },
            "layers[0].kernel_size: every size must be at least 1, got (3, 0)",
        ),
        ({"format": 1.0, "input_shape": [4], "layers": []}, "format: unsupported format 1.0"),
        (
            {"format": 1, "input_shape": [-(10**5000)], "layers": []},
            "input_shape: expected a list of positive ints like [1, 28, 28], got [-<an int of",
        ),
    ],
)
def test_spec_errors_name_the_place(data, message) -> None:
    with pytest.raises(SpecError) as info:
        LayerStack.from_dict(data)
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_json_syntax_error_names_file_line_and_column(tmp_path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"format": 1,\n  "input_shape": [1, 28, 28],,\n}')
    with pytest.raises(SpecError, match=rf"^{path}:2:30: "):
        load_spec_file(path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"a":' * 50_000 + "1" + "}" * 50_000, "nested too deeply"),
        ('{"format": ' + "9" * 5000 + "}", "Exceeds the limit"),
        ("\udcff not utf-8".encode("utf-8", "surrogateescape"), "cannot read"),
    ],
)
def test_a_file_json_cannot_read_is_one_spec_error_naming_it(tmp_path, text, message) -> None:
    path = tmp_path / "spec.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(SpecError) as info:
        load_spec_file(path)
    assert str(info.value).startswith(f"{path}: ") and message in str(info.value)
    assert len(str(info.value)) < 500


def test_a_spec_error_is_one_bounded_line() -> None:
    key = "k\n" * 100_000  # a key a megabyte long, with newlines in it
    with pytest.raises(SpecError) as info:
        LayerStack.from_dict({"format": 1, key: 1})
    assert "\n" not in str(info.value) and len(str(info.value)) < 500


def test_parse_shape_accepts_the_usual_spellings() -> None:
    for text in ("1,28,28", "1x28x28", "(1, 28, 28)", "[1, 28, 28]"):
        assert parse_shape(text) == (1, 28, 28)
    with pytest.raises(ValueError, match="expected a shape"):
        parse_shape("1,a,28")
