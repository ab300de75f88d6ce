"""Stopping Python code that runs in another thread: ctrl+c, and time bounds.

``PyThreadState_SetAsyncExc`` raises an exception in a thread at its next bytecode
boundary; a thread blocked in ``time.sleep`` never reaches one until the sleep ends. So
``time.sleep`` is replaced, once, by a version that waits on an event in the threads
registered here (the REPL's), which :func:`raise_in_thread` sets: ``time.sleep(30)``
then ends at ctrl+c. Every other thread sleeps exactly as before.

:func:`call_with_deadline` runs a function that may run user code (``dir()`` of a user
object for Tab completion, ``isinstance`` checks for the inspector) and stops it when it
takes longer than its bound.
"""

from __future__ import annotations

import ctypes
import math
import threading
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

_real_sleep = time.sleep
_wakeups: dict[int, threading.Event] = {}
_install_lock = threading.Lock()

# threading.Event.wait refuses timeouts above this (OverflowError); sleep longer in parts.
_LONGEST_WAIT = 3600.0
# Beyond this, time.sleep raises OverflowError at once: let it.
_LONGEST_SLEEP = 9.2e9


class DeadlineExceeded(BaseException):
    """Raised inside a function that ran past its :func:`call_with_deadline` bound.

    A BaseException, so that the user code it interrupts (``except Exception``) does not
    swallow it.
    """


def raise_in_thread(ident: int, exc_type: type[BaseException]) -> None:
    """Raise ``exc_type`` in thread ``ident`` at its next bytecode; end its sleep now."""
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(exc_type))
    event = _wakeups.get(ident)
    if event is not None:
        event.set()


def clear_pending(ident: int) -> None:
    """Withdraw an exception raised with :func:`raise_in_thread` that has not landed yet."""
    # NULL (None) as the exception clears the thread's pending asynchronous exception.
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)
    event = _wakeups.get(ident)
    if event is not None:
        event.clear()


def install_interruptible_sleep() -> None:
    """Replace ``time.sleep`` (once per process) by the version that ctrl+c can end."""
    with _install_lock:
        if time.sleep is not _interruptible_sleep:
            time.sleep = _interruptible_sleep


def register_current_thread() -> None:
    """Let :func:`raise_in_thread` end this thread's ``time.sleep`` early."""
    _wakeups.setdefault(threading.get_ident(), threading.Event()).clear()


def unregister_current_thread() -> None:
    _wakeups.pop(threading.get_ident(), None)


def _interruptible_sleep(seconds: float) -> None:
    """``time.sleep``, ended early by :func:`raise_in_thread` in a registered thread."""
    event = _wakeups.get(threading.get_ident())
    if event is None or not isinstance(seconds, (int, float)) or not seconds > 0:
        # Other threads, odd arguments and errors (negative, NaN) behave as they always did.
        _real_sleep(seconds)
        return
    if math.isinf(seconds) or seconds > _LONGEST_SLEEP:
        _real_sleep(seconds)  # the OverflowError time.sleep raises for these
        return
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        if event.wait(min(left, _LONGEST_WAIT)):
            event.clear()
            # The exception lands at the next bytecode boundary, which is here.
            return


def call_with_deadline(func: Callable[[], T], seconds: float) -> T:
    """``func()`` in this thread, stopped with :class:`DeadlineExceeded` after ``seconds``.

    Raises:
        DeadlineExceeded: ``func`` was still running at the deadline. A long C call
            (``dir()`` itself is one, a user's ``__dir__`` is Python) finishes first.
    """
    ident = threading.get_ident()
    lock = threading.Lock()
    state = {"done": False}

    def expire() -> None:
        with lock:
            if not state["done"]:
                raise_in_thread(ident, DeadlineExceeded)

    timer = threading.Timer(seconds, expire)
    timer.daemon = True
    register_current_thread()
    try:
        timer.start()
        try:
            return func()
        finally:
            with lock:
                state["done"] = True
                clear_pending(ident)
            timer.cancel()
    finally:
        unregister_current_thread()
