"""Engine regression tests of issue 8 (REPL items): nothing typed takes the session down.

Deeply nested input, formatting that loops, sleeps, huge error messages, hostile objects
in the namespace, control sequences and output written around ``print`` (fd writes,
C printf, child processes, threads). Waits are bounded by events, never by sleeping.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from tui.core.repl.capture import CAPTURE
from tui.core.repl.completeness import CHECK_LIMIT, is_complete
from tui.core.repl.completion import complete
from tui.core.repl.formatting import ERROR_LIMIT
from tui.core.repl.inspect import describe_namespace
from tui.core.repl.interrupt import DeadlineExceeded, call_with_deadline
from tui.core.repl.output import BoundedText, visible_text
from tui.core.repl.session import OUTPUT_LIMIT, RunResult, Session

DEEP_INPUTS = {
    "3000 ~": "~" * 3000 + "1",
    "3000 terms": "+".join(["1"] * 3000),
    "3000 not": "not " * 3000 + "x",
    "3000 parens": "(" * 3000 + "1" + ")" * 3000,
    "3000 lambdas": "lambda: " * 3000 + "1",
    "3000 minus": "-" * 3000 + "1",
    "deep list": "[" * 5000,
    "deep call": "f(" * 3000 + ")" * 3000,
}


@pytest.fixture(scope="module")
def session() -> Session:
    s = Session("cpu")
    s.load()
    return s


def run_with_interrupt(session: Session, source: str, after_s: float = 0.2) -> RunResult:
    """Run ``source``; once it has run for ``after_s``, interrupt it (ctrl+c)."""
    done = threading.Event()

    def interrupter() -> None:
        assert session.wait_until_running(timeout=30)
        # Let the code get into its loop or sleep; done ends the wait early.
        if not done.wait(after_s):
            session.interrupt()

    thread = threading.Thread(target=interrupter)
    thread.start()
    try:
        return session.run(source)
    finally:
        done.set()
        thread.join()


# -- item 2: the completeness check and compile of deep input --


@pytest.mark.parametrize("name", sorted(DEEP_INPUTS))
def test_completeness_check_of_deep_input_is_complete_and_quick(name: str) -> None:
    started = time.perf_counter()
    assert is_complete(DEEP_INPUTS[name]) is True
    assert time.perf_counter() - started < 1.0


def test_input_over_the_check_limit_runs_without_a_check() -> None:
    assert is_complete("x = (" + "1, " * CHECK_LIMIT)  # open bracket, but too long to check
    assert not is_complete("x = (1,")  # short: the check still continues the line


@pytest.mark.parametrize("name", sorted(DEEP_INPUTS))
def test_deep_input_gives_one_error_and_keeps_the_namespace(session: Session, name: str) -> None:
    session.run("kept = 41")
    result = session.run(DEEP_INPUTS[name])
    assert result.error is not None and len(result.error.splitlines()) <= 8
    assert "dltui internal error" not in result.error
    assert session.run("kept + 1").value_repr == "42"


def test_too_deep_says_so_in_one_line(session: Session) -> None:
    result = session.run("+".join(["1"] * 3000))
    assert result.error is not None
    assert result.error.startswith("RecursionError: the input is nested too deeply")
    assert "\n" not in result.error


# -- item 6: interrupt reaches everything user code runs --


def test_a_repr_that_loops_is_interrupted(session: Session) -> None:
    session.run("class Loops:\n    def __repr__(self):\n        while True:\n            pass")
    result = run_with_interrupt(session, "Loops()")
    assert result.interrupted and result.error == "KeyboardInterrupt"
    assert session.run("1 + 1").value_repr == "2"


def test_an_exception_str_that_loops_is_interrupted(session: Session) -> None:
    source = (
        "class Bad(Exception):\n    def __str__(self):\n        while True:\n            pass\n"
        "raise Bad()"
    )
    result = run_with_interrupt(session, source)
    assert result.interrupted
    assert session.run("1 + 1").value_repr == "2"


def test_time_sleep_ends_at_ctrl_c(session: Session) -> None:
    started = time.monotonic()
    result = run_with_interrupt(session, "import time\ntime.sleep(30)")
    assert result.interrupted
    assert time.monotonic() - started < 5


def test_time_sleep_still_sleeps_and_checks_its_argument(session: Session) -> None:
    started = time.monotonic()
    assert session.run("import time\ntime.sleep(0.05)").error is None
    assert time.monotonic() - started >= 0.05
    assert "ValueError" in (session.run("time.sleep(-1)").error or "")
    assert "TypeError" in (session.run("time.sleep('x')").error or "")


def test_sleep_in_other_threads_is_unchanged(session: Session) -> None:
    session.run("1")  # installs the interruptible sleep
    started = time.monotonic()
    time.sleep(0.02)
    assert time.monotonic() - started >= 0.02


def test_a_100_mb_error_message_is_bounded(session: Session) -> None:
    started = time.perf_counter()
    result = session.run("raise ValueError('y' * 10**8)")
    assert result.error is not None
    assert len(result.error) <= ERROR_LIMIT + 200
    assert "100,000,000 characters" in result.error
    assert result.error.splitlines()[0].startswith("Traceback")
    assert time.perf_counter() - started < 10


def test_a_huge_syntax_error_line_is_bounded(session: Session) -> None:
    result = session.run("x = 1 +* " + "2" * 1_000_000)
    assert result.error is not None and "SyntaxError" in result.error
    assert len(result.error) <= ERROR_LIMIT + 200


def test_an_object_whose_class_raises_does_not_break_the_inspector(session: Session) -> None:
    session.run("import torch\nt = torch.ones(2)")
    session.run(
        "class Liar:\n    @property\n    def __class__(self):\n        raise RuntimeError('no')\n"
        "liar = Liar()"
    )
    for _ in range(2):  # and not for later submissions either
        rows = describe_namespace(session.namespace, session.user_names())
        assert "t" in {r.name for r in rows}
        session.run("u = t + 1")
    assert "u" in {r.name for r in describe_namespace(session.namespace, session.user_names())}


def test_a_key_that_is_not_a_str_is_left_out_of_user_names(session: Session) -> None:
    session.run("globals()[1] = 2")
    assert 1 not in session.user_names()
    assert complete("glo", session.namespace)[1] == ["global", "globals"]


def test_completion_of_a_looping_dir_stops_at_its_deadline(session: Session) -> None:
    session.run("class D:\n    def __dir__(self):\n        while True:\n            pass\nd = D()")
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded):
        call_with_deadline(lambda: complete("d.", session.namespace), 0.3)
    assert time.monotonic() - started < 5
    # The thread is usable afterwards: no late exception lands in it.
    assert call_with_deadline(lambda: complete("torch.matm", session.namespace), 5)[1]


def test_a_function_that_ends_in_time_returns_its_value() -> None:
    assert call_with_deadline(lambda: 42, 1.0) == 42


# -- item 7: output, control sequences, fds --


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[2J", "␛[2J"),
        ("\x1b[?1049l", "␛[?1049l"),
        ("\x1b]0;title\x07", "␛]0;title␇"),
        ("a\x9bb", "a\\x9bb"),
        ("tab\tand\nnewline", "tab\tand\nnewline"),
        ("50%\r100%\n", "100%\n"),
        ("line\r\n", "line\n"),
    ],
)
def test_visible_text_neutralises_control_sequences(text: str, shown: str) -> None:
    assert visible_text(text) == shown


def test_printed_and_returned_escapes_reach_the_result_neutralised(session: Session) -> None:
    result = session.run(
        "print('\\x1b[2J\\x1b[?1049l\\x1b]0;pwned\\x07')\n"
        "class R:\n    def __repr__(self):\n        return '\\x1b[31mred'\nR()"
    )
    for text in (result.output, result.value_repr or ""):
        assert "\x1b" not in text and "\x07" not in text
    assert "␛[2J" in result.output and result.value_repr == "␛[31mred"


def test_writing_bytes_to_stdout_is_a_type_error(session: Session) -> None:
    result = session.run("import sys\nsys.stdout.write(b'x')")
    assert "TypeError" in (result.error or "")
    assert session.run("print('fine')").output == "fine\n"


@contextmanager
def captured() -> Iterator[None]:
    """Capture fds 1 and 2 for the body. Not a fixture: pytest puts its own capture back
    on fd 1 and 2 between a fixture's setup and the test, over ours."""
    CAPTURE.start()
    try:
        yield
    finally:
        CAPTURE.stop()


def test_fd_writes_c_printf_and_children_land_in_the_output(session: Session) -> None:
    with captured():
        result = session.run(
            "import os, ctypes, subprocess, sys\n"
            "os.write(1, b'fd one\\n'); os.write(2, b'fd two\\n')\n"
            "ctypes.CDLL(None).printf(b'printf %d\\n', 7)\n"
            "os.system('echo from a shell')\n"
            "subprocess.run([sys.executable, '-c', 'print(\"from a child\")'])\n"
            "None"
        )
    for line in ("fd one", "fd two", "printf 7", "from a shell", "from a child"):
        assert line in result.output.splitlines()


def test_threads_the_user_starts_print_into_the_output(session: Session) -> None:
    with captured():
        result = session.run(
            "import threading, logging\n"
            # Its own handler: under pytest the root logger's handler is pytest's.
            "log = logging.getLogger('from-a-thread'); log.propagate = False\n"
            "log.addHandler(logging.StreamHandler())\n"
            "say = lambda: (print('thread print'), log.warning('thread log'))\n"
            "t = threading.Thread(target=say)\n"
            "t.start(); t.join()"
        )
    assert "thread print" in result.output and "thread log" in result.output


def test_output_between_submissions_waits_in_the_background(session: Session) -> None:
    with captured():
        session.run(
            "import threading, os\nlater = threading.Event()\n"
            "def late():\n    later.wait(30)\n    print('\\x1b[2Jlate')\n"
            "    os.write(1, b'fd late\\n')\n"
            "bg = threading.Thread(target=late)\nbg.start()"
        )
        # Released from this thread, outside any submission: nobody claims the output.
        session.namespace["later"].set()
        session.namespace["bg"].join()
        assert CAPTURE.sync()
        text, note = session.background_output()
    assert "␛[2Jlate" in text and "fd late" in text and note is None


def test_background_output_is_bounded() -> None:
    with captured():
        thread = threading.Thread(target=lambda: print("z" * 100_000))
        thread.start()
        thread.join()
        text, note = CAPTURE.background.take()
    assert len(text) <= 20_000 and note is not None and "100,001 characters" in note


def test_capture_restarts_and_puts_fds_back() -> None:
    import os

    before = os.readlink("/proc/self/fd/1") if os.path.exists("/proc/self/fd/1") else None
    for _ in range(2):  # a second launch in the same process works the same
        with captured():
            buffer = BoundedText(OUTPUT_LIMIT)
            with CAPTURE.submission(buffer):
                os.write(1, b"again\n")
        assert buffer.text() == "again\n"
    if before is not None:
        assert os.readlink("/proc/self/fd/1") == before
