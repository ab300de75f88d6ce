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


def test_parse_shape_accepts_the_usual_spellings() -> None:
    for text in ("1,28,28", "1x28x28", "(1, 28, 28)", "[1, 28, 28]"):
        assert parse_shape(text) == (1, 28, 28)
    with pytest.raises(ValueError, match="expected a shape"):
        parse_shape("1,a,28")
