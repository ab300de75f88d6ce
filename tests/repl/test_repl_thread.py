"""Every REPL submission runs on one thread, so PyTorch's per-thread state holds."""

from __future__ import annotations

import threading

import pytest

from tests.conftest import run_code
from tui.core.repl.interrupt import raise_in_thread
from tui.core.repl.thread import ReplThread


def test_jobs_run_in_order_on_one_daemon_thread_and_survive_their_errors():
    worker = ReplThread()
    idents = [worker.submit(threading.get_ident).result(timeout=30) for _ in range(5)]
    assert len(set(idents)) == 1 and idents[0] != threading.get_ident()
    assert worker._thread is not None and worker._thread.daemon

    def boom() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        worker.submit(boom).result(timeout=30)
    with pytest.raises(SystemExit):
        worker.submit(lambda: (_ for _ in ()).throw(SystemExit(3))).result(timeout=30)
    # An interrupt raised while no job runs lands in the loop (or, at worst, in the next
    # job): no job is lost, none runs twice, and the thread goes on.
    for _ in range(50):
        raise_in_thread(idents[0], KeyboardInterrupt)
        results = []
        for i in range(3):
            try:
                results.append(worker.submit(lambda i=i: i * i).result(timeout=30))
            except KeyboardInterrupt:
                results.append("interrupted")
        assert results.count("interrupted") <= 1
        assert [r for r in results if r != "interrupted"] == [
            i * i for i in range(3) if results[i] != "interrupted"
        ]
    assert worker.submit(threading.get_ident).result(timeout=30) == idents[0]
    worker.close()
    worker._thread.join(30)
    assert not worker._thread.is_alive()


async def test_grad_mode_and_default_device_set_in_one_submission_hold_in_the_next(make_app):
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await run_code(
            pilot,
            app,
            "import threading; torch.set_grad_enabled(False); tid = threading.get_ident()",
        )
        out = await run_code(pilot, app, "torch.is_grad_enabled()")
        assert "False" in out, out
        await run_code(pilot, app, "torch.set_default_device('meta')")
        out = await run_code(pilot, app, "(torch.ones(1).device, threading.get_ident() == tid)")
        assert "meta" in out and "True" in out, out
        await run_code(pilot, app, "torch.set_default_device(None)")
        out = await run_code(pilot, app, "torch.set_grad_enabled(True); torch.ones(1).device")
        assert "cpu" in out, out
