"""Engine tests of tui.core.repl.session: the namespace, Enter's completeness rule, evaluation,
output capture, tracebacks and interrupting code in another thread. No Textual here."""

from __future__ import annotations

import codeop
import threading

import numpy as np
import pytest
import torch

from tui.core.repl.completeness import is_complete
from tui.core.repl.session import OUTPUT_LIMIT, PRELOADED, RunResult, Session


@pytest.fixture
def session() -> Session:
    s = Session("cpu")
    s.load()
    return s


def test_namespace_is_preloaded(session: Session) -> None:
    import torch.nn.functional as F
    from torch import nn, optim
    from torch.utils.data import DataLoader, Dataset, TensorDataset

    ns = session.namespace
    expected = {
        "torch": torch,
        "nn": nn,
        "F": F,
        "optim": optim,
        "np": np,
        "Dataset": Dataset,
        "DataLoader": DataLoader,
        "TensorDataset": TensorDataset,
    }
    assert set(PRELOADED) == set(expected)
    for name, obj in expected.items():
        assert ns[name] is obj, name
    assert ns["device"] == torch.device("cpu")
    assert session.info is not None and session.info.device == "cpu"
    assert session.info.torch_version == torch.__version__
    assert session.user_names() == []


def test_bad_device_falls_back_to_cpu() -> None:
    s = Session("not-a-device")
    info = s.load()
    assert info.device == "cpu"
    assert info.device_error is not None and "not-a-device" in info.device_error
    assert s.namespace["device"] == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_unavailable_cuda_falls_back_to_cpu_with_a_reason() -> None:
    s = Session("cuda")
    info = s.load()
    assert info.device == "cpu"
    assert info.device_error is not None and "CUDA is not available" in info.device_error


@pytest.mark.parametrize(
    "source",
    [
        "x = 1",
        "x",
        "torch.ones(2, 3)",
        "x = (1,\n     2)",
        "def f(x):",
        "def f(x):\n    return x",
        "for i in range(3):\n    print(i)",
        "if x:\n    y = 1\nelse:",
        "x = [1,",
        "@decorator",
        "x = = 1",
        "class A:\n    pass",
    ],
)
def test_is_complete_agrees_with_codeop(source: str) -> None:
    # Python's own REPL decides with codeop ("single" mode): None means "more input".
    try:
        expected = codeop.compile_command(source, "<input>", "single") is not None
    except SyntaxError:
        expected = True  # running it shows the error
    assert is_complete(source) is expected


def test_blank_line_ends_a_block_and_pasted_statements_run() -> None:
    assert is_complete("for i in range(3):\n    print(i)\n")
    assert is_complete("for i in range(3):\n    print(i)\n    ")
    assert not is_complete("")
    assert not is_complete("   ")
    # Several complete statements (a paste) run at once...
    assert is_complete("a = 1\nb = 2")
    # ...unless the last line is still inside an indented block.
    assert not is_complete("a = 1\nfor i in range(3):\n    b = i")


def test_final_expression_is_shown_and_bound_to_underscore(session: Session) -> None:
    result = session.run("t = torch.arange(6).reshape(2, 3)\nt.sum()")
    assert result.error is None
    assert result.value_repr == repr(torch.arange(6).reshape(2, 3).sum())
    assert session.namespace["_"].item() == 15
    # A statement shows nothing and leaves _ alone, as in Python's REPL.
    result = session.run("u = 1")
    assert result.value_repr is None
    assert session.namespace["_"].item() == 15
    # None is not shown either.
    assert session.run("None").value_repr is None
    assert session.user_names() == ["t", "_", "u"]


def test_print_is_captured_not_written_to_the_terminal(
    session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    result = session.run("print('hello')\nimport sys\nprint('oops', file=sys.stderr)")
    assert result.output == "hello\noops\n"
    captured = capsys.readouterr()
    assert "hello" not in captured.out and "oops" not in captured.err


def test_print_from_another_thread_is_not_mixed_in(
    session: Session, capsys: pytest.CaptureFixture[str]
) -> None:
    # Only the thread running the submission is routed into its buffer: while it runs,
    # another thread (the UI's, say) still writes to the stream it had.
    go, printed = threading.Event(), threading.Event()

    def other() -> None:
        go.wait(5)
        print("not the user's")
        printed.set()

    def print_elsewhere() -> None:
        go.set()
        assert printed.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    session.namespace["print_elsewhere"] = print_elsewhere
    result = session.run("print('before')\nprint_elsewhere()\nprint('after')")
    thread.join(5)
    assert result.error is None
    assert result.output == "before\nafter\n"
    assert "not the user's" in capsys.readouterr().out


def test_traceback_shows_user_lines_only(session: Session) -> None:
    source = "def f(x):\n    return x @ x\nf(torch.ones(2, 3))"
    result = session.run(source)
    assert result.error is not None
    assert result.error.startswith("Traceback (most recent call last):")
    assert "return x @ x" in result.error
    assert "f(torch.ones(2, 3))" in result.error
    assert "line 2, in f" in result.error
    # None of dltui's frames (session.py's exec/eval) are shown.
    assert "session.py" not in result.error
    assert "tui/core" not in result.error and "tui\\core" not in result.error
    assert result.error.rstrip().endswith(
        "RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)"
    )
    # explain.py adds one plain-words line.
    assert result.explanation is not None and "\n" not in result.explanation


def test_syntax_error_and_system_exit_are_reported(session: Session) -> None:
    result = session.run("x = = 1")
    assert result.error is not None and "SyntaxError" in result.error
    assert "x = = 1" in result.error
    result = session.run("raise SystemExit(3)")
    assert result.error is not None and result.error.endswith("SystemExit: 3")
    # The session still works afterwards.
    assert session.run("1 + 1").value_repr == "2"


def test_printing_a_huge_string_is_bounded_with_a_note(session: Session) -> None:
    result = session.run("s = 'x' * 100_000_000\nprint(s)")
    assert len(result.output) == OUTPUT_LIMIT
    assert result.truncated_note is not None
    assert "100,000,001 characters" in result.truncated_note
    # The value of a huge string is cut before repr builds a 100 MB copy.
    result = session.run("s")
    assert result.value_repr is not None
    assert len(result.value_repr) < OUTPUT_LIMIT + 200
    assert "value truncated: 100,000,000 characters" in result.value_repr


def test_printing_a_big_tensor_shows_torch_summary(session: Session) -> None:
    result = session.run("big = torch.arange(10**7)\nprint(big)\nbig")
    expected = repr(torch.arange(10**7))
    assert result.output == expected + "\n"
    assert result.value_repr == expected
    assert "..." in expected and len(expected) < 200


def test_long_repr_is_cut(session: Session) -> None:
    result = session.run("list(range(100_000))")
    assert result.value_repr is not None
    assert "value truncated: repr is" in result.value_repr
    assert result.value_repr.startswith("[0, 1, 2, 3")


def test_interrupt_stops_running_code_and_keeps_the_namespace(session: Session) -> None:
    assert session.run("kept = torch.arange(3)").error is None
    assert not session.interrupt(), "nothing runs: nothing to interrupt"
    results: list[RunResult] = []
    worker = threading.Thread(target=lambda: results.append(session.run("while True: pass")))
    worker.start()
    assert session.wait_until_running(timeout=30), "the code never started"
    assert session.interrupt()
    worker.join(30)
    assert not worker.is_alive()
    (result,) = results
    assert result.interrupted and result.error == "KeyboardInterrupt"
    assert not session.running
    assert torch.equal(session.namespace["kept"], torch.arange(3))
    assert session.run("kept.sum()").value_repr == repr(torch.tensor(3))


def test_reset_forgets_user_names_and_keeps_preloaded(session: Session) -> None:
    session.run("a = torch.ones(2)\nnn = None")
    session.reset()
    assert "a" not in session.namespace
    from torch import nn

    assert session.namespace["nn"] is nn
    assert session.user_names() == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_default_device_is_cuda_when_there_is_one() -> None:
    s = Session()
    info = s.load()
    assert info.device == "cuda" and info.cuda_available
    result = s.run("x = torch.ones(3, device=device)\nx.device.type")
    assert result.value_repr == "'cuda'"


def test_input_and_interactive_help_explain_instead_of_blocking(session: Session) -> None:
    # Both would read the terminal the UI owns and block the worker forever.
    result = session.run('name = input("name? ")')
    assert result.error is not None and "input() cannot read" in result.error
    assert "session.py" not in result.error  # dltui's own frame is kept out
    result = session.run("help()")
    assert result.error is not None and "help(torch.matmul)" in result.error
    result = session.run("help(len)")
    assert result.error is None and "Return the number of items" in result.output


def test_a_summarised_tensor_gets_a_note(session: Session) -> None:
    big = session.run("torch.arange(10**7)")
    assert big.value_repr == repr(torch.arange(10**7))
    assert big.truncated_note is not None and "10,000,000 elements" in big.truncated_note
    small = session.run("torch.arange(10)")
    assert small.truncated_note is None
