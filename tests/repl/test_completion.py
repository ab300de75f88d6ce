"""Engine tests of tui.core.repl.completion: names and attributes from a live namespace."""

from __future__ import annotations

import builtins

import pytest
import torch

from tui.core.repl.completion import common_prefix, complete, current_token


@pytest.fixture
def namespace() -> dict[str, object]:
    return {"torch": torch, "t": torch.ones(2, 3), "total": 5, "__name__": "__main__"}


@pytest.mark.parametrize(
    ("before", "token"),
    [
        ("t.sh", "t.sh"),
        ("x = torch.ma", "torch.ma"),
        ("print(t", "t"),
        ("torch.nn.", "torch.nn."),
        ("x = 1e", ""),  # inside a number, not a name
        ("x = ", ""),
        ("", ""),
    ],
)
def test_current_token(before: str, token: str) -> None:
    assert current_token(before) == token


def test_attribute_of_a_tensor(namespace: dict[str, object]) -> None:
    token, found = complete("x = t.sh", namespace)
    assert token == "t.sh"
    expected = sorted(f"t.{a}" for a in dir(torch.ones(1)) if a.startswith("sh"))
    assert found == expected
    assert "t.shape" in found


def test_attribute_of_a_module(namespace: dict[str, object]) -> None:
    token, found = complete("torch.ma", namespace)
    assert token == "torch.ma"
    assert found == sorted(f"torch.{a}" for a in dir(torch) if a.startswith("ma"))
    assert {"torch.matmul", "torch.max", "torch.manual_seed"} <= set(found)


def test_names_from_namespace_builtins_and_keywords(namespace: dict[str, object]) -> None:
    assert complete("to", namespace) == ("to", ["torch", "total"])
    assert complete("pri", namespace)[1] == ["print"]
    assert "while" in complete("whi", namespace)[1]
    # Dunders only when typed... and never from a bare prefix.
    assert "__name__" not in complete("_", namespace)[1]


def test_private_attributes_only_after_an_underscore(namespace: dict[str, object]) -> None:
    _, public = complete("t.", namespace)
    assert public and not any(name.split(".")[-1].startswith("_") for name in public)
    _, private = complete("t._ver", namespace)
    assert "t._version" in private


def test_completion_never_runs_properties() -> None:
    calls: list[str] = []

    class Thing:
        @property
        def heavy(self) -> Thing:
            calls.append("ran")
            return self

    ns = {"thing": Thing()}
    assert complete("thing.he", ns)[1] == ["thing.heavy"]  # listing is fine
    assert complete("thing.heavy.he", ns)[1] == []  # walking through it is not
    assert calls == []


def test_unknown_names_complete_to_nothing(namespace: dict[str, object]) -> None:
    assert complete("nothing.x", namespace) == ("nothing.x", [])
    # A builtin resolves, but it has only dunder attributes: nothing public to offer.
    assert complete("len.", namespace) == ("len.", [])
    assert complete("len._", namespace)[1] == sorted(f"len.{a}" for a in dir(builtins.len))


def test_common_prefix() -> None:
    assert common_prefix([]) == ""
    assert common_prefix(["torch.masked_fill", "torch.masked_select"]) == "torch.masked_"
    assert common_prefix(["t.shape"]) == "t.shape"
