"""Pilot tests of the REPL pane, driven by keys the way a user types.

Expected values come from the installed torch and NumPy, computed here, never typed in
by hand. Waits are on conditions (the REPL idle, a worker finished), never on a guessed
time.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import (
    TIMEOUT_S,
    press_enter,
    press_tab,
    run_code,
    send_keys,
    submit,
    type_text,
    wait_engine,
    wait_repl,
    wait_until,
)
from textual.widgets import DataTable, Static

from tui.app import DltuiApp
from tui.core.repl import inspect as summary
from tui.core.repl.history import History
from tui.core.repl.inspect import describe_namespace, memory_by_device
from tui.core.text import compact_count, human_bytes, shape_text
from widgets.common.help_screen import HelpScreen
from widgets.common.status_line import StatusLine
from widgets.repl.history_search import HistorySearchScreen
from widgets.repl.input import ReplInput
from widgets.repl.inspector import Inspector
from widgets.repl.output import MAX_LINES, ReplOutput
from widgets.repl.pane import ReplPane
from widgets.repl.tensor_detail import TensorDetail

AppFactory = Callable[..., DltuiApp]
WIDE = (120, 40)
NARROW = (80, 24)


def text_of(widget: Static) -> str:
    return str(widget.render())


def table_rows(app: DltuiApp) -> dict[str, list[str]]:
    table = app.query_one("#vars", DataTable)
    rows = {}
    for row_key in table.rows:
        cells = [str(cell) for cell in table.get_row(row_key)]
        rows[cells[0]] = cells[1:]
    return rows


def expected_row(obj: object) -> list[str]:
    """What the inspector should show for ``obj``, from the object itself."""
    if isinstance(obj, np.ndarray):
        shape, dtype, device = obj.shape, f"np.{obj.dtype}", "numpy"
        numel, nbytes, grad = obj.size, obj.nbytes, ""
    else:
        assert isinstance(obj, torch.Tensor)
        shape, dtype, device = tuple(obj.shape), str(obj.dtype).removeprefix("torch."), "cpu"
        numel, nbytes = obj.numel(), obj.numel() * obj.element_size()
        grad = "requires_grad" if obj.requires_grad else ""
    row = [shape_text(shape), dtype, device, human_bytes(nbytes), compact_count(numel), grad]
    return row if grad else row[:-1]  # the grad column is shown only when a row has one


# -- the seed's walkthrough --


async def test_walkthrough(make_app: AppFactory) -> None:
    ns: dict[str, object] = {"torch": torch, "np": np}
    steps = [
        "lst = [[1,2,3],[4,5,6]]",
        "tensor = torch.tensor(lst)",
        "tensor.shape",
        "tensor.dtype",
        "tensor.device",
        "arr = np.array(lst)",
        "t_np = torch.from_numpy(arr)",
        "t_np",
        "a = torch.tensor([[1., 2.], [3., 4.]])",
        "b = torch.tensor([[5., 6.], [7., 8.]])",
        "a + b",
        "a * b",
        "a.T",
        "a.transpose(0, 1)",
        "a @ b",
        "torch.matmul(a, b)",
        "torch.cat([a, b])",
        "torch.cat([a, b], dim=1)",
    ]
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        for step in steps:
            transcript = await run_code(pilot, app, step)
            # What real torch gives for the same line, in a namespace of our own.
            try:
                value = eval(compile(step, "<walkthrough>", "eval"), ns)
            except SyntaxError:  # a statement
                exec(step, ns)
                value = None
            expected = f">>> {step}"
            if value is not None:
                expected += "\n" + repr(value)
            assert transcript == expected
        assert app.session.namespace["_"] is not None
        assert torch.equal(app.session.namespace["_"], torch.cat([ns["a"], ns["b"]], dim=1))

        # The inspector lists the tensors and the array (not the list), from the objects.
        rows = table_rows(app)
        shown = {"tensor", "arr", "t_np", "a", "b", "_"}
        assert set(rows) == shown
        for name in shown - {"_"}:
            assert rows[name] == expected_row(ns[name]), name
        # Memory per device: t_np shares arr's memory, but one is "cpu" and one "numpy".
        cpu = sum(expected_row_bytes(app, name) for name in ("tensor", "t_np", "a", "b", "_"))
        totals = text_of(app.query_one("#mem-totals", Static))
        assert totals == f"6 variables   cpu: {human_bytes(cpu)}  numpy: {human_bytes(48)}"


def expected_row_bytes(app: DltuiApp, name: str) -> int:
    t = app.session.namespace[name]
    assert isinstance(t, torch.Tensor)
    return t.numel() * t.element_size()


# -- Enter, blocks, newlines --


async def test_enter_continues_a_block_and_a_blank_line_runs_it(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await wait_engine(pilot)
        repl_input = app.query_one(ReplInput)
        await type_text(pilot, "for i in range(3):")
        await press_enter(pilot)
        assert repl_input.text == "for i in range(3):\n    "  # indented for the body
        await type_text(pilot, "print(i * 10)")
        await press_enter(pilot)
        assert repl_input.text == "for i in range(3):\n    print(i * 10)\n    "
        assert not app.query_one(ReplPane).running
        await press_enter(pilot)  # the blank line ends the block
        await wait_repl(pilot)
        transcript = app.query_one(ReplOutput).transcript
        assert transcript.endswith(">>> for i in range(3):\n...     print(i * 10)\n0\n10\n20")
        assert repl_input.text == ""
        # History keeps the block as it ran, without the blank line.
        assert app.history.entries[-1] == "for i in range(3):\n    print(i * 10)"

        # An open bracket continues too; ctrl+j inserts a newline in complete code.
        await type_text(pilot, "x = [1,")
        await press_enter(pilot)
        assert repl_input.text == "x = [1,\n"
        await type_text(pilot, "2]")
        await pilot.press("ctrl+j")
        assert repl_input.text == "x = [1,\n2]\n"
        await type_text(pilot, "y = sum(x)")
        await press_enter(pilot)  # two complete statements: they run
        await wait_repl(pilot)
        assert app.session.namespace["y"] == 3


async def test_print_traceback_and_explanation(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        out = await run_code(pilot, app, "print('hello', 6 * 7)")
        assert out == ">>> print('hello', 6 * 7)\nhello 42"
        # User code runs in a worker thread, not on the UI thread (this one).
        code = "import threading; threading.get_ident()"
        out = await run_code(pilot, app, code)
        assert app.session.namespace["_"] != threading.get_ident()
        out = await run_code(pilot, app, "torch.ones(2, 3) @ torch.ones(2, 3)")
        lines = out.splitlines()
        assert lines[1] == "Traceback (most recent call last):"
        assert "torch.ones(2, 3) @ torch.ones(2, 3)" in out
        assert "session.py" not in out and "widgets" not in out
        assert "RuntimeError: mat1 and mat2 shapes cannot be multiplied (2x3 and 2x3)" in out
        explanation = [line for line in lines if line.startswith("→ ")]
        assert len(explanation) == 1 and "(2x3)" in explanation[0]


async def test_output_is_bounded(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        out = await run_code(pilot, app, "print('x' * 100_000_000)")
        assert "… output truncated: 100,000,001 characters printed, showing the first" in out
        assert len(out) < 25_000
        out = await run_code(pilot, app, "big = torch.arange(10**7)")
        out = await run_code(pilot, app, "print(big)")
        assert out == ">>> print(big)\n" + repr(torch.arange(10**7))
        out = await run_code(pilot, app, "for i in range(10_000): print(i)")
        assert len(app.query_one(ReplOutput).lines) <= MAX_LINES


async def test_output_wraps_to_the_pane_width_and_rewraps_on_resize(
    make_app: AppFactory,
) -> None:
    def fits(output: ReplOutput) -> bool:
        width = output.scrollable_content_region.width
        return bool(output.lines) and max(line.cell_length for line in output.lines) <= width

    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await run_code(pilot, app, "print('word ' * 40)")
        output = app.query_one(ReplOutput)
        assert output.scrollable_content_region.width < 78  # narrower than RichLog's default
        assert fits(output)
        assert output.virtual_size.width <= output.scrollable_content_region.width
        await pilot.resize_terminal(60, 24)
        await wait_until(pilot, lambda: output.scrollable_content_region.width < 60, "resize")
        await pilot.pause()
        assert fits(output)
        assert "word " * 40 in output.transcript  # nothing lost by re-wrapping


async def test_a_long_input_line_is_echoed_whole_at_80_columns(make_app: AppFactory) -> None:
    code = "total = " + " + ".join(str(i) for i in range(40))  # ~170 characters
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await run_code(pilot, app, code)
        output = app.query_one(ReplOutput)
        width = output.scrollable_content_region.width
        assert max(line.cell_length for line in output.lines) <= width
        shown = "".join("".join(s.text for s in line) for line in output.lines)
        # Wrapped over rows, every character is on screen (the echo was cut at the edge).
        assert code.replace(" ", "") in shown.replace(" ", "").replace("...", "")


# -- running off the UI thread: interrupt, responsiveness, the queue --


async def start_endless(pilot, app: DltuiApp, body: str) -> None:  # type: ignore[no-untyped-def]
    await type_text(pilot, f"while True: {body}")
    await submit(pilot)  # a compound statement: Enter, then Enter on the blank line
    await wait_until(pilot, lambda: app.session.running, "the loop to start")


async def test_ctrl_c_interrupts_and_the_namespace_survives(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await run_code(pilot, app, "kept = torch.arange(4)")
        await start_endless(pilot, app, "pass")
        assert app.query_one(ReplPane).running
        send_keys(pilot, "ctrl+c")
        await wait_repl(pilot)
        assert app.query_one(ReplOutput).transcript.endswith("KeyboardInterrupt")
        assert not app.session.running
        out = await run_code(pilot, app, "kept.sum()")
        assert out.endswith(repr(torch.arange(4).sum()))


async def test_ui_stays_responsive_while_code_runs(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await run_code(pilot, app, "a = torch.ones(256, 256)")
        await start_endless(pilot, app, "c = a @ a")
        status = app.query_one(StatusLine)
        repl_input = app.query_one(ReplInput)
        # Keys edit the input while the matmuls run in the worker.
        await type_text(pilot, "still typing")
        assert repl_input.text == "still typing"
        assert app.query_one(ReplPane).running
        assert status.busy and "running" in text_of(status)
        # Enter queues the line behind the running code.
        await submit(pilot)
        assert list(app.query_one(ReplPane).pending) == ["still typing"]
        assert "(queued: runs after the code that is running)" in app.query_one(ReplOutput).plain
        send_keys(pilot, "ctrl+c")  # interrupts, and drops the queue
        await wait_repl(pilot)
        assert not status.busy and "running" not in text_of(status)
        assert "dropped 1 queued submission(s)" in app.query_one(ReplOutput).plain
        assert torch.equal(app.session.namespace["c"], torch.full((256, 256), 256.0))


async def test_ctrl_c_with_nothing_running_clears_the_input(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await wait_engine(pilot)
        await type_text(pilot, "half a thought")
        await pilot.press("ctrl+c")
        assert app.query_one(ReplInput).text == ""


async def test_typing_before_torch_is_ready_runs_afterwards(make_app: AppFactory) -> None:
    app = make_app(hold_engine=True)
    async with app.run_test(size=NARROW) as pilot:
        assert not app.engine_ready
        await type_text(pilot, "x = 21 * 2")
        await pilot.press("enter")
        await type_text(pilot, "x + 1")
        await pilot.press("enter")
        pane = app.query_one(ReplPane)
        assert list(pane.pending) == ["x = 21 * 2", "x + 1"]
        assert not pane.running
        assert "(queued: runs once torch is ready)" in app.query_one(ReplOutput).plain
        assert "torch loading" in text_of(app.query_one(StatusLine))
        app.release_engine.set()  # type: ignore[attr-defined]
        await wait_engine(pilot)
        await wait_repl(pilot)
        # The inputs were echoed when typed; their results follow the ready note, in order.
        plain = list(app.query_one(ReplOutput).plain)
        ready = plain.index(f"torch {torch.__version__} ready; device = cpu")
        assert plain[ready - 4 : ready] == [
            ">>> x = 21 * 2",
            "(queued: runs once torch is ready)",
            ">>> x + 1",
            "(queued: runs once torch is ready)",
        ]
        assert plain[ready + 1 :] == ["43"]
        assert app.session.namespace["x"] == 42
        assert "torch loading" not in text_of(app.query_one(StatusLine))


async def test_quitting_while_code_runs_does_not_hang(make_app: AppFactory) -> None:
    # A thread worker cannot be killed: unmounting the REPL must interrupt its code, or
    # the process waits for the endless loop forever after the app has closed.
    app = make_app()
    try:
        async with app.run_test(size=NARROW) as pilot:
            await wait_engine(pilot)
            await start_endless(pilot, app, "pass")
        # The app is gone: wait on the session itself (in a thread, off the event loop).
        idle = await asyncio.to_thread(app.session.wait_until_idle, TIMEOUT_S)
        assert idle, "the code kept running after the app closed"
    finally:
        app.session.interrupt()  # without the fix: end the loop, or teardown would hang


# -- history --


async def test_history_persists_across_launches(make_app: AppFactory, data_dir: Path) -> None:
    first = make_app()  # default History(): in DLTUI_DATA_DIR
    async with first.run_test(size=NARROW) as pilot:
        await run_code(pilot, first, "x = torch.ones(3)")
        await run_code(pilot, first, "for i in range(2):\n    x = x * 2")
    stored = [json.loads(line) for line in (data_dir / "history.jsonl").read_text().splitlines()]
    assert stored == ["x = torch.ones(3)", "for i in range(2):\n    x = x * 2"]

    second = make_app(history=History(data_dir / "history.jsonl"))
    async with second.run_test(size=NARROW) as pilot:
        await wait_engine(pilot)
        repl_input = second.query_one(ReplInput)
        await type_text(pilot, "draft")
        await pilot.press("up")
        assert repl_input.text == "for i in range(2):\n    x = x * 2"
        assert repl_input.cursor_location[0] == 0  # on the first line: Up walks on
        await pilot.press("up")
        assert repl_input.text == "x = torch.ones(3)"
        await pilot.press("down")
        assert repl_input.text == "for i in range(2):\n    x = x * 2"
        assert repl_input.cursor_location[0] == 1  # on the last line: Down walks on
        await pilot.press("down")
        assert repl_input.text == "draft"
        # Inside a multi-line input Up and Down move the cursor instead.
        await pilot.press("ctrl+c")  # clears the input
        await type_text(pilot, "a = 1\nb = 2")
        await pilot.press("up")
        assert repl_input.text == "a = 1\nb = 2" and repl_input.cursor_location[0] == 0


async def test_ctrl_r_searches_the_history(make_app: AppFactory, data_dir: Path) -> None:
    history = History(data_dir / "h.jsonl")
    for entry in ("x = torch.ones(3)", "y = torch.zeros(2)", "z = 5"):
        history.add(entry)
    app = make_app(history=history)
    async with app.run_test(size=NARROW) as pilot:
        await wait_engine(pilot)
        await pilot.press("ctrl+r")
        assert isinstance(app.screen, HistorySearchScreen)
        await type_text(pilot, "torch")
        await pilot.press("down")  # the older of the two matches
        await pilot.press("enter")
        assert not isinstance(app.screen, HistorySearchScreen)
        assert app.query_one(ReplInput).text == "x = torch.ones(3)"
        assert app.query_one(ReplInput).has_focus
        await pilot.press("ctrl+r")
        await pilot.press("escape")
        assert app.query_one(ReplInput).text == "x = torch.ones(3)"


# -- completion --


async def test_tab_completes_from_the_live_namespace(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await run_code(pilot, app, "t = torch.ones(2, 3)")
        repl_input = app.query_one(ReplInput)
        hint = app.query_one("#completion-hint", Static)
        candidates = sorted(a for a in dir(torch.ones(1)) if a.startswith("sh"))
        await type_text(pilot, "t.sh")
        await press_tab(pilot)
        assert repl_input.text == "t.sh"  # nothing in common beyond "sh": the hint lists them
        assert text_of(hint).split() == candidates
        assert hint.display
        await press_tab(pilot)  # Tab again cycles through them
        assert repl_input.text == f"t.{candidates[0]}"
        assert f"[{candidates[0]}]" in text_of(hint)  # the current one is marked
        await press_tab(pilot)
        assert repl_input.text == f"t.{candidates[1]}"
        assert repl_input.cursor_location == (0, len(repl_input.text))
        await pilot.press("space")  # another key ends the cycle and hides the hint
        assert not hint.display

        await pilot.press("ctrl+c")
        await type_text(pilot, "torch.matm")
        await press_tab(pilot)
        assert repl_input.text == "torch.matmul"  # a single candidate is inserted
        await pilot.press("ctrl+c")
        # Extending to a common prefix, then Tab again cycles right away.
        masked = sorted(a for a in dir(torch) if a.startswith("masked"))
        await type_text(pilot, "torch.mas")
        await press_tab(pilot)
        assert repl_input.text == "torch.masked"
        await press_tab(pilot)
        assert repl_input.text == f"torch.{masked[0]}"
        await press_tab(pilot)
        assert repl_input.text == f"torch.{masked[1]}"


# -- the inspector --


async def test_inspector_detail_keys_and_focus(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    stats_threads: list[int] = []
    real_stats = summary.tensor_stats

    def recording_stats(name: str, obj: object) -> summary.TensorStats:
        stats_threads.append(threading.get_ident())
        return real_stats(name, obj)

    monkeypatch.setattr(summary, "tensor_stats", recording_stats)
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await run_code(pilot, app, "x = torch.arange(6).reshape(2, 3).T")
        # Statistics are computed off the UI thread (this one), once per version.
        assert len(stats_threads) == 1 and threading.get_ident() not in stats_threads
        inspector = app.query_one(Inspector)
        detail = app.query_one(TensorDetail)
        head = text_of(app.query_one("#detail-head", Static))
        assert head.splitlines()[:2] == ["x  tensor", "shape (3, 2)  dtype int64  device cpu"]
        stats = text_of(app.query_one("#detail-stats", Static))
        x = app.session.namespace["x"]
        assert isinstance(x, torch.Tensor)
        values = dict(line.split(None, 1) for line in stats.splitlines())
        assert values["stride"] == str(x.stride())
        assert values["contiguous"] == str(x.is_contiguous())
        assert values["min"] == str(x.min().item()) and values["max"] == str(x.max().item())
        assert values["mean"] == f"{x.float().mean().item():.6g}"
        assert values["std"] == f"{x.float().std().item():.6g}"
        assert (values["NaN"], values["Inf"], values["zeros"]) == ("0", "0", "1")
        preview = text_of(app.query_one("#detail-preview", Static))
        assert preview.replace(" ", "") == str(x.numpy().tolist()).replace(" ", "").replace(
            "],[", "],\n["
        )
        assert detail.query_one("#detail-hist").display

        # Another run leaves x alone: its statistics come from the cache.
        await run_code(pilot, app, "unrelated = 1")
        assert len(stats_threads) == 1
        # Statistics follow in-place changes (the cache is keyed on the version).
        await run_code(pilot, app, "x += 10")
        stats = text_of(app.query_one("#detail-stats", Static))
        assert dict(line.split(None, 1) for line in stats.splitlines())["max"] == "15"
        assert len(stats_threads) == 2

        # Escape in the input focuses the table; d / t write ready lines into the input.
        await pilot.press("escape")
        assert inspector.table.has_focus
        await pilot.press("t")
        repl_input = app.query_one(ReplInput)
        assert repl_input.has_focus
        assert repl_input.text == "x = x.to(torch.float32)"
        await pilot.press("escape", "t")
        assert repl_input.text == "x = x.to(torch.float16)"  # same row, again: next choice
        await pilot.press("escape", "d")
        assert repl_input.text == 'x = x.to("cpu")'
        # Escape or i goes back without writing anything.
        await pilot.press("escape", "escape")
        assert repl_input.has_focus
        await pilot.press("escape", "i")
        assert repl_input.has_focus and repl_input.text == 'x = x.to("cpu")'


async def test_inspector_shows_modules_and_parameters(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        code = "model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 1))"
        await run_code(pilot, app, code)
        await run_code(pilot, app, "w = model[0].weight")
        rows = table_rows(app)
        params = 3 * 4 + 4 + 4 + 1
        # Memory before numel, numel compact, grad last (the inspector's column order).
        assert rows["model"] == ["module", "float32", "cpu", human_bytes(params * 4),
                                 str(params), f"{params} trainable"]  # fmt: skip
        assert rows["w"][:3] == ["(4, 3)", "float32", "cpu"]
        assert rows["w"][-1] == "requires_grad"
        # The weight is in the model: the cpu total counts it once.
        totals = text_of(app.query_one("#mem-totals", Static))
        assert totals == f"2 variables   cpu: {human_bytes(params * 4)}"
        # The first row is highlighted: its detail lists the submodules.
        stats = text_of(app.query_one("#detail-stats", Static))
        assert f"params     {params}" in stats
        model = app.session.namespace["model"]
        for line in (f"(0) {model[0]!r}  [16 params]", f"(1) {model[1]!r}  [0 params]"):
            assert line in stats
        # t cycles through dtypes a module accepts (no int64: Module.to() refuses it).
        lines = []
        for _ in range(4):
            await pilot.press("escape", "t")
            lines.append(app.query_one(ReplInput).text)
        assert lines == [
            "model = model.to(torch.float16)",
            "model = model.to(torch.bfloat16)",
            "model = model.to(torch.float64)",
            "model = model.to(torch.float16)",
        ]
        for line in lines[:3]:  # and each line runs
            await pilot.press("ctrl+c")  # clears the input
            assert "Error" not in await run_code(pilot, app, line)
        assert next(app.session.namespace["model"].parameters()).dtype == torch.float64


async def test_inspector_rows_are_drawn_at_their_final_width(make_app: AppFactory) -> None:
    # A frame drawn right after new rows arrive (before the table is idle) must not leave
    # a cell cut to the old column width: "8 trainable" once stayed "8 tr".
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await run_code(pilot, app, "x = torch.ones(2)")  # the grad column is narrow
        inspector = app.query_one(Inspector)
        table = inspector.table
        ns = app.session.namespace
        ns["w"] = torch.nn.Linear(3, 2)  # as another pane's hand-off would
        rows = describe_namespace(ns, app.session.user_names())
        inspector.update_rows(rows, memory_by_device(rows))
        drawn_early = [table.render_line(y).text for y in range(table.size.height)]
        await pilot.pause()
        await wait_until(pilot, lambda: table.virtual_size.width > 0, "the table to settle")
        drawn = [table.render_line(y).text for y in range(table.size.height)]
        w_line = next(line for line in drawn if line.strip().startswith("w "))
        assert "8 trainable" in w_line, (w_line, drawn_early)


async def test_odd_objects_never_hide_results_or_break_the_detail(
    make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_stats(name: str, obj: object) -> None:
        raise RuntimeError("expected [batch] dims, got [/]")

    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        # A nested tensor raises on .shape: the inspector copes, the output is kept.
        code = "nt = torch.nested.nested_tensor([torch.ones(2), torch.ones(3)]); print('kept')"
        out = await run_code(pilot, app, code)
        assert "kept" in out.splitlines() and "internal error" not in out
        assert "nt" in table_rows(app)
        out = await run_code(pilot, app, "1 + 1")
        assert out == ">>> 1 + 1\n2"
        # A statistics error whose message looks like markup is shown as it is.
        monkeypatch.setattr(summary, "tensor_stats", failing_stats)
        await run_code(pilot, app, "y = torch.ones(3)")
        await pilot.press("escape", "down")
        await wait_repl(pilot)
        stats = text_of(app.query_one("#detail-stats", Static))
        assert stats == "statistics  unavailable: expected [batch] dims, got [/]"


async def test_narrow_enter_on_a_row_shows_the_detail(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await run_code(pilot, app, "x = torch.ones(3)")
        pane = app.query_one(ReplPane)
        detail = app.query_one(TensorDetail)
        assert not detail.display or detail.region.height == 0
        await pilot.press("escape", "enter")
        await pilot.pause()
        assert pane.has_class("-detail")
        assert detail.region.height > 0
        await pilot.press("escape")
        assert not pane.has_class("-detail")
        assert app.query_one(ReplInput).has_focus


# -- palette commands, help --


async def test_clear_output_and_reset_namespace(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=NARROW) as pilot:
        await run_code(pilot, app, "x = torch.ones(2)")
        output = app.query_one(ReplOutput)
        app.action_clear_output()
        assert output.transcript == "" and len(output.lines) == 0
        app.action_reset_namespace()
        await pilot.pause()
        assert "x" not in app.session.namespace
        assert table_rows(app) == {}
        assert text_of(app.query_one("#mem-totals", Static)) == "no tensors yet"
        out = await run_code(pilot, app, "x")
        assert out.endswith("NameError: name 'x' is not defined")
        out = await run_code(pilot, app, "torch.ones(1).device == device")
        assert out.endswith("True")  # the preloaded names are back


async def test_help_screen_lists_the_repl_keys(make_app: AppFactory) -> None:
    app = make_app()
    async with app.run_test(size=WIDE) as pilot:
        await wait_engine(pilot)
        await type_text(pilot, "x?")  # ? in the input is a character, not help
        assert app.query_one(ReplInput).text == "x?"
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        table = app.screen.query_one(DataTable)
        actions = {str(table.get_row_at(i)[1]) for i in range(table.row_count)}
        assert {"Run", "Newline", "Complete", "Search history", "Interrupt", "Help"} <= actions
        # At 80 columns every column is in view: long descriptions wrap, nothing to scroll.
        await pilot.resize_terminal(*NARROW)
        await wait_until(
            pilot,
            lambda: 0 < table.virtual_size.width <= table.scrollable_content_region.width,
            "the help table to fit the dialog",
        )
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
