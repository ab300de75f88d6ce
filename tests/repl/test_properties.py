"""Property-based tests of the REPL engine and the completeness check (hypothesis).

At least 10,000 generated inputs a run, across the tests below (EXAMPLES x BATCH): random text,
token soup and deeply nested expressions. Whatever the input, the completeness check
answers quickly without raising, and the session returns a result within its bound,
keeps its namespace and evaluates ``1 + 1`` afterwards. The vocabulary leaves out what
could run unbounded inside one C call (``**``, ``<<``, loops over big ranges), since
ctrl+c only lands between bytecodes.
"""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tui.core.repl.completeness import is_complete
from tui.core.repl.session import Session

BATCH = 10
"""Inputs per generated example: hypothesis's own cost is per example, so they come in batches."""
EXAMPLES = {"check_text": 300, "check_soup": 300, "run_soup": 230, "run_text": 130, "deep": 20}
"""Examples per test (the deep ones: per test of the two); inputs = examples x BATCH."""
assert BATCH * (sum(EXAMPLES.values()) + EXAMPLES["deep"]) >= 10_000

RUN_BOUND_S = 10.0
"""No input may keep the session longer than this (after an interrupt at INTERRUPT_S)."""
INTERRUPT_S = 2.0

TOKENS = [
    *"xyz",
    "0",
    "1",
    "2",
    "None",
    "True",
    "'s'",
    "(",
    ")",
    "[",
    "]",
    "{",
    "}",
    "+",
    "-",
    "*",
    "/",
    "//",
    "%",
    "~",
    "not",
    "and",
    "or",
    "if",
    "else",
    "lambda",
    ":",
    "=",
    "==",
    ",",
    ".",
    ";",
    "\n",
    "    ",
    "\\",
    "'",
    '"',
    "#",
    "def",
    "class",
    "return",
    "raise",
    "try",
    "except",
    "pass",
    "yield",
    "@",
    "[x for x in 'ab']",
    "torch.ones(2)",
    "np.zeros(2)",
]

token_soup = st.lists(st.sampled_from(TOKENS), max_size=25).map(" ".join)

deep_inputs = st.builds(
    lambda n, kind: {
        "tilde": "~" * n + "1",
        "sum": "+".join(["1"] * n),
        "not": "not " * n + "x",
        "parens": "(" * n + "1" + ")" * n,
        "lists": "[" * n + "]" * n,
        "open": "(" * n,
        # Nested lambdas compile slowly (quadratic), in C where ctrl+c cannot land.
        "lambda": "lambda: " * min(n, 150) + "1",
        "calls": "f(" * n + ")" * n,
    }[kind],
    st.integers(1, 4000),
    st.sampled_from(["tilde", "sum", "not", "parens", "lists", "open", "lambda", "calls"]),
)


def bounded(examples: int) -> settings:
    # No deadline per example (a shared CI machine is slow at times: the bounds are our
    # own), no example database written into the tree.
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


@pytest.fixture(scope="module")
def session() -> Session:
    s = Session("cpu")
    s.load()
    s.run("keep = 12345")
    return s


def check_is_bounded(source: str) -> None:
    started = time.perf_counter()
    assert is_complete(source) in (True, False)
    assert time.perf_counter() - started < 2.0


def run_is_bounded(session: Session, source: str) -> None:
    """Run ``source``; interrupt it at INTERRUPT_S; it must be back within RUN_BOUND_S."""
    done = threading.Event()

    def watchdog() -> None:
        if not done.wait(INTERRUPT_S):
            session.interrupt()

    guard = threading.Thread(target=watchdog, daemon=True)
    guard.start()
    started = time.perf_counter()
    try:
        result = session.run(source)
    finally:
        done.set()
        guard.join()
    assert time.perf_counter() - started < RUN_BOUND_S
    assert result.error is None or "dltui internal error" not in result.error
    # The namespace survives everything (the vocabulary never names `keep`).
    assert session.namespace.get("keep") == 12345


def still_evaluates(session: Session) -> None:
    """After a batch: the session is not wedged in any state, it runs the next input."""
    assert not session.running
    assert session.run("1 + 1").value_repr == "2"


def batch(inputs: st.SearchStrategy[str]) -> st.SearchStrategy[list[str]]:
    return st.lists(inputs, min_size=BATCH, max_size=BATCH)


@bounded(EXAMPLES["check_text"])
@given(batch(st.text(max_size=120)))
def test_completeness_check_of_random_text(sources: list[str]) -> None:
    for source in sources:
        check_is_bounded(source)


@bounded(EXAMPLES["check_soup"])
@given(batch(token_soup))
def test_completeness_check_of_token_soup(sources: list[str]) -> None:
    for source in sources:
        check_is_bounded(source)


@bounded(EXAMPLES["deep"])
@given(batch(deep_inputs))
def test_completeness_check_of_deep_input(sources: list[str]) -> None:
    for source in sources:
        check_is_bounded(source)


@bounded(EXAMPLES["run_soup"])
@given(sources=batch(token_soup))
def test_session_survives_token_soup(session: Session, sources: list[str]) -> None:
    for source in sources:
        run_is_bounded(session, source)
    still_evaluates(session)


@bounded(EXAMPLES["run_text"])
@given(sources=batch(st.text(max_size=80)))
def test_session_survives_random_text(session: Session, sources: list[str]) -> None:
    for source in sources:
        run_is_bounded(session, source)
    still_evaluates(session)


@bounded(EXAMPLES["deep"])
@given(sources=batch(deep_inputs))
def test_session_survives_deep_input(session: Session, sources: list[str]) -> None:
    for source in sources:
        run_is_bounded(session, source)
    still_evaluates(session)
