"""Property-based tests of spec reading (hypothesis): any JSON-like value gives a stack or
a one-line SpecError, never another exception; a valid stack round-trips through JSON.

The values are what a hostile or careless spec file holds: None, bools, ints of every
size (10**5000 included, over Python's int-to-text limit), floats with nan and inf,
strings, lists and objects nested at random, with the spec's own keys and layer names
mixed in so that generation reaches the checks deep inside, not only the first one.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.core.builder.catalogue import CATALOGUE, ArgSpec
from tui.core.builder.spec import (
    INPUT_DTYPES,
    LayerSpec,
    LayerStack,
    SpecError,
    load_spec_file,
    spec_to_json,
)

EXAMPLES = {"from_dict": 1000, "load_spec_file": 500, "round_trip": 500}
"""2,000 generated values a run, shared out by what each test reaches."""


def _settings(name: str) -> settings:
    return settings(
        max_examples=EXAMPLES[name],
        deadline=None,  # shared CI cores: a slow example is not a failure
        database=None,  # no .hypothesis folder in the working tree
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


ARG_NAMES = sorted({p.name for t in CATALOGUE.values() for p in t.params})
KEYS = st.sampled_from(["format", "input_shape", "input_dtype", "layers", "type", *ARG_NAMES])
TEXTS = st.one_of(
    st.sampled_from([*CATALOGUE, *INPUT_DTYPES, "auto", "same", "none", "1e400", "(3, 3)"]),
    st.text(max_size=20),
)
INTS = st.one_of(
    st.integers(-3, 10),
    st.integers(),
    # As exponents: hypothesis reprs its strategies, and repr refuses 10**5000.
    st.sampled_from([31, 63, 10, 400, -400, 5000]).map(
        lambda e: (-1 if e < 0 else 1) * 10 ** abs(e)
    ),
)
SCALARS = st.one_of(
    st.none(), st.booleans(), INTS, st.floats(allow_nan=True, allow_infinity=True), TEXTS
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5),
        st.dictionaries(st.one_of(KEYS, st.text(max_size=8)), inner, max_size=5),
    ),
    max_leaves=12,
)


# Built once (a strategy made inside each draw costs more than the test itself), and
# shallow where it can be: a recursive value in every field makes each draw ~100 ms.
SMALL = st.one_of(SCALARS, st.lists(SCALARS, max_size=3))
_LAYER = st.builds(
    lambda type_, args: {**args, "type": type_},
    st.one_of(st.sampled_from(list(CATALOGUE)), SCALARS),
    st.dictionaries(st.sampled_from(ARG_NAMES), SMALL, max_size=4),
)
SPEC_LIKE = st.one_of(
    # A spec object whose fields are at random right, wrong, or missing.
    st.fixed_dictionaries(
        {},
        optional={
            "format": st.one_of(st.just(1), SCALARS),
            "input_shape": st.one_of(st.lists(INTS, max_size=4), SMALL),
            "input_dtype": st.one_of(st.sampled_from(list(INPUT_DTYPES)), SCALARS),
            "layers": st.one_of(st.lists(st.one_of(_LAYER, SMALL), max_size=4), SCALARS),
            "extra": VALUES,
        },
    ),
    VALUES,
)


def _deep(depth: int) -> Any:
    value: Any = 1
    for i in range(depth):
        value = [value] if i % 2 else {"input_shape": value}
    return value


@_settings("from_dict")
@given(SPEC_LIKE)
def test_from_dict_gives_a_stack_or_a_one_line_spec_error(data: Any) -> None:
    try:
        LayerStack.from_dict(data)
    except SpecError as exc:
        text = str(exc)
        assert "\n" not in text and len(text) < 500


def test_from_dict_on_values_deeper_than_the_stack() -> None:
    for value in (_deep(100_000), {"format": 1, "input_shape": _deep(100_000), "layers": []}):
        try:
            LayerStack.from_dict(value)
        except SpecError as exc:
            assert len(str(exc)) < 500


@_settings("load_spec_file")
@given(st.one_of(SPEC_LIKE, st.text(max_size=200)))
def test_load_spec_file_gives_a_stack_or_a_spec_error_naming_the_file(data: Any) -> None:
    if isinstance(data, str):
        text = data  # text that is often not JSON at all
    else:
        try:
            text = json.dumps(data)
        except ValueError:  # an int over the 4300-digit limit: no file can hold it as JSON
            return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spec.json"
        path.write_text(text, encoding="utf-8")
        try:
            load_spec_file(path)
        except SpecError as exc:
            assert str(exc).startswith(str(path)) and "\n" not in str(exc)


# --- valid stacks round-trip --------------------------------------------------------------


def _value(arg: ArgSpec) -> st.SearchStrategy[Any]:
    low = arg.minimum if arg.minimum is not None else -4
    ints = st.integers(low, 64)
    if arg.kind == "int":
        out = ints
    elif arg.kind == "float":
        out = st.floats(-10, 10, allow_nan=False)
    elif arg.kind == "bool":
        out = st.booleans()
    elif arg.kind == "str":
        # Free strings are read back as typed text (quotes stripped): keep them plain.
        out = st.sampled_from(arg.choices) if arg.choices else st.sampled_from(["zeros", "x"])
    elif arg.kind == "ints":
        size = arg.length or 2
        item = st.one_of(ints, st.none()) if arg.none_items else ints
        out = st.one_of(
            st.tuples(*[item] * size),
            *([ints] if arg.scalar_ok else []),
            *([st.sampled_from(arg.choices)] if arg.choices else []),
        )
    else:
        out = st.integers(0, 3)
    if arg.nullable:
        out = st.one_of(st.none(), out)
    if arg.auto_capable:
        out = st.one_of(st.just("auto"), out)
    return out


def _layer_spec(name: str) -> st.SearchStrategy[LayerSpec]:
    params = CATALOGUE[name].params
    args = st.fixed_dictionaries(
        {p.name: _value(p) for p in params if p.required},
        optional={p.name: _value(p) for p in params if not p.required},
    )
    return args.map(lambda a: LayerSpec(name, a))


LAYER_SPECS = st.one_of([_layer_spec(name) for name in sorted(CATALOGUE)])
STACKS = st.builds(
    LayerStack,
    st.lists(st.integers(1, 64), min_size=1, max_size=4).map(tuple),
    st.sampled_from(list(INPUT_DTYPES)),
    st.lists(LAYER_SPECS, max_size=6),
)


@_settings("round_trip")
@given(STACKS)
def test_a_valid_stack_round_trips_through_json(stack: LayerStack) -> None:
    # Shapes need not fit (propagation says so per row): the spec format holds any stack.
    again = LayerStack.from_dict(json.loads(spec_to_json(stack)))
    assert again == stack
    for a, b in zip(again.layers, stack.layers, strict=True):
        for k, v in a.args.items():  # == says 1 == 1.0: the kinds must survive too
            assert type(v) is type(b.args[k]) or (isinstance(v, float) and math.isfinite(v))
