"""Engine tests of tui.core.repl.output: the bounded buffer and per-thread routing of stdout."""

from __future__ import annotations

import sys
import threading

import pytest

from tui.core.repl.output import BoundedText, RoutedStream
from tui.core.repl.session import capture_to_string


def test_bounded_text_keeps_the_head_and_counts_the_rest() -> None:
    buffer = BoundedText(10)
    assert buffer.write("hello ") == 6
    assert buffer.write("world, again") == 12
    assert buffer.text() == "hello worl"
    assert buffer.total == 18
    assert buffer.truncated
    assert buffer.note() == "… output truncated: 18 characters printed, showing the first 10"


def test_bounded_text_under_the_limit_has_no_note() -> None:
    buffer = BoundedText(10)
    buffer.write("0123456789")
    assert buffer.text() == "0123456789"
    assert not buffer.truncated and buffer.note() is None


def test_a_100_mb_write_keeps_only_the_limit() -> None:
    buffer = BoundedText(1_000)
    buffer.write("x" * 100_000_000)
    buffer.write("more")
    assert buffer.text() == "x" * 1_000
    assert buffer.total == 100_000_004
    assert "100,000,004 characters printed" in (buffer.note() or "")


def test_concurrent_writes_are_all_counted() -> None:
    buffer = BoundedText(100)

    def writer() -> None:
        for _ in range(1_000):
            buffer.write("ab")

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert buffer.total == 8_000
    assert len(buffer.text()) == 100


def test_routed_stream_sends_each_thread_to_its_own_sink(
    capsys: pytest.CaptureFixture[str],
) -> None:
    RoutedStream.install()
    assert isinstance(sys.stdout, RoutedStream) and isinstance(sys.stderr, RoutedStream)
    RoutedStream.install()  # twice: no double wrapping
    assert not isinstance(sys.stdout._fallback, RoutedStream)  # type: ignore[attr-defined]

    sinks = {name: BoundedText(1_000) for name in ("a", "b")}
    ready = threading.Barrier(3)

    def worker(name: str) -> None:
        RoutedStream.route_current_thread(sinks[name])
        try:
            ready.wait(5)  # both threads print at the same time
            for i in range(3):
                print(f"{name}{i}")
            print(f"{name}-err", file=sys.stderr)
        finally:
            RoutedStream.unroute_current_thread()

    threads = [threading.Thread(target=worker, args=(name,)) for name in sinks]
    for thread in threads:
        thread.start()
    ready.wait(5)
    print("main thread")
    for thread in threads:
        thread.join(5)
    assert sinks["a"].text() == "a0\na1\na2\na-err\n"
    assert sinks["b"].text() == "b0\nb1\nb2\nb-err\n"
    # The unrouted thread still writes to the stream that was replaced.
    assert "main thread" in capsys.readouterr().out
    assert not sys.stdout.isatty()


def test_capture_to_string_captures_and_unroutes(capsys: pytest.CaptureFixture[str]) -> None:
    assert capture_to_string(lambda: print("inside")) == "inside\n"
    print("outside")
    assert capsys.readouterr().out == "outside\n"
