"""Engine tests for the layer catalogue (tui.core.builder.catalogue): arguments follow
torch's signatures, form text is read and written back.
"""

from __future__ import annotations

import inspect

import pytest
from example_stacks import A
from torch import nn

from tui.core.builder.catalogue import CATALOGUE, coerce_arg, format_arg, parse_arg


def test_catalogue_arguments_follow_torch_signatures() -> None:
    for name, ltype in CATALOGUE.items():
        sig = inspect.signature(getattr(nn, name))
        wanted = [
            p
            for p in sig.parameters.values()
            if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
            and p.name not in ("device", "dtype")
            and not p.name.startswith("_")
        ]
        assert [a.name for a in ltype.params] == [p.name for p in wanted], name
        for arg, p in zip(ltype.params, wanted, strict=True):
            assert arg.required == (p.default is p.empty)
            if not arg.required:
                assert arg.default == p.default
        assert ltype.doc and "\n" not in ltype.doc
    for required in ("Linear", "ConvTranspose2d", "AdaptiveAvgPool2d", "Embedding", "LogSoftmax"):
        assert required in CATALOGUE
    assert CATALOGUE["Conv2d"].arg("padding_mode").choices == (
        "zeros",
        "reflect",
        "replicate",
        "circular",
    )


def test_parse_arg_reads_form_text() -> None:
    assert parse_arg("Conv2d", "kernel_size", "3") == 3
    assert parse_arg("Conv2d", "kernel_size", "(3, 5)") == (3, 5)
    assert parse_arg("Conv2d", "kernel_size", "3x5") == (3, 5)
    assert parse_arg("Conv2d", "padding", "same") == "same"
    assert parse_arg("Linear", "in_features", "auto") == A
    assert parse_arg("Linear", "bias", "false") is False
    assert parse_arg("Linear", "bias", "") is True  # empty: the default
    assert parse_arg("BatchNorm1d", "momentum", "None") is None
    assert parse_arg("LayerNorm", "eps", "1e-3") == 1e-3
    assert parse_arg("AdaptiveAvgPool2d", "output_size", "(None, 7)") == (None, 7)
    assert parse_arg("GELU", "approximate", "none") == "none"


@pytest.mark.parametrize(
    ("layer", "arg", "text", "words"),
    [
        ("Conv2d", "kernel_size", "x", "expected int or tuple of 2 ints, got 'x'"),
        ("Conv2d", "kernel_size", "(3, 3, 3)", "tuple of 2 ints"),
        ("Linear", "out_features", "", "missing required argument"),
        ("Linear", "out_features", "auto", "expected int"),
        ("Linear", "out_features", "2.5", "expected int"),
        ("Linear", "bias", "maybe", "expected bool"),
        ("Conv2d", "padding_mode", "mirror", "one of 'zeros'"),
        ("Linear", "out_featurs", "3", "did you mean 'out_features'"),
        ("Lineer", "out_features", "3", "did you mean 'Linear'"),
        # Sizes a layer cannot have: torch would build them without a word.
        ("Linear", "out_features", "0", "must be at least 1, got 0"),
        ("Conv2d", "stride", "(1, 0)", "every size must be at least 1, got (1, 0)"),
        ("Conv2d", "padding", "-1", "must be at least 0, got -1"),
        ("Embedding", "embedding_dim", "-4", "must be at least 1"),
    ],
)
def test_parse_arg_errors_say_what_was_expected(layer, arg, text, words) -> None:
    with pytest.raises(ValueError) as info:
        parse_arg(layer, arg, text)
    assert words in str(info.value)


def test_format_arg_round_trips_through_parse_arg() -> None:
    for layer, arg, value in [
        ("Conv2d", "kernel_size", (3, 5)),
        ("Conv1d", "kernel_size", (3,)),
        ("Linear", "bias", False),
        ("BatchNorm1d", "momentum", None),
        ("LayerNorm", "eps", 1e-05),
        ("Unflatten", "unflattened_size", (1, 28, 28)),
    ]:
        assert parse_arg(layer, arg, format_arg(value)) == value
    assert coerce_arg(CATALOGUE["Conv2d"].arg("stride"), [2, 1]) == (2, 1)
