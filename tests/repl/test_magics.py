"""IPython habits in the REPL: x?, x??, %timeit, %time, %run, and one line for the rest."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from tests.conftest import run_code
from tui.core.repl.magics import MagicHint, duration, parse
from tui.core.repl.session import RunResult, Session


@pytest.fixture(scope="module")
def session() -> Session:
    s = Session("cpu")
    s.load()
    return s


def test_help_shows_type_signature_value_and_docstring(session: Session) -> None:
    session.run("x = torch.ones(2, 3)\ndef f(a, b=2):\n    'Adds.'\n    return a + b")
    out = session.run("x?").output
    assert "torch.Tensor" in out and "Shape:" in out and "[2, 3]" in out, out
    assert "float32" in out and "Device:" in out
    out = session.run("?f").output
    assert "Signature: f(a, b=2)" in out and "Adds." in out, out
    out = session.run("torch.nn.Linear?").output
    assert "in_features" in out and "Applies an affine linear transformation" in out
    assert "Source:" not in out


def test_double_question_mark_shows_the_source(session: Session) -> None:
    session.run("def g(n):\n    return n * 3")
    out = session.run("g??").output  # typed in the REPL: its lines are kept for this
    assert "return n * 3" in out, out
    out = session.run("torch.nn.Linear.forward??").output
    assert "Source:" in out and "F.linear" in out, out
    out = session.run("len??").output
    assert "not available" in out and "Return the number of items" in out


def test_valid_python_with_a_question_mark_runs_as_python(session: Session) -> None:
    assert session.run("print('ok?')  # really?").output == "ok?\n"
    assert parse("s = 'a?'") is None and parse("1 + 1") is None
    result = session.run("a ? b")
    assert result.error is not None and "SyntaxError" in result.error


def test_timeit_and_time(session: Session) -> None:
    out = session.run("%timeit -n 50 -r 3 x.sum()").output
    assert "per loop (mean ± std. dev. of 3 runs, 50 loops each)" in out, out
    out = session.run("%timeit x + 1").output
    assert "of 7 runs" in out and "loops each" in out, out
    result = session.run("%time y = x * 2")
    assert "CPU times: user" in result.output and "Wall time:" in result.output
    assert torch.equal(session.namespace["y"], torch.full((2, 3), 2.0))
    result = session.run("%time x.sum()")
    assert result.value_repr == repr(torch.tensor(6.0))
    assert duration(0.00123) == "1.23 ms" and duration(2.5) == "2.5 s"
    assert duration(4e-8) == "40 ns"


def test_timeit_is_interrupted_by_ctrl_c(session: Session) -> None:
    results: list[RunResult] = []
    code = "%timeit -n 100000000 sum(range(1000))"
    worker = threading.Thread(target=lambda: results.append(session.run(code)))
    worker.start()
    assert session.wait_until_running(timeout=30)
    assert session.interrupt()
    worker.join(30)
    assert not worker.is_alive()
    assert results[0].interrupted and results[0].error == "KeyboardInterrupt"
    assert session.run("1 + 1").value_repr == "2"


def test_run_a_script_with_arguments_and_keep_its_globals(session: Session, tmp_path: Path):
    script = tmp_path / "train.py"
    (tmp_path / "helper_mod.py").write_text("VALUE = 41\n")
    script.write_text(
        "import sys\nimport helper_mod\n"
        "print('args', sys.argv[1:], __name__)\n"
        "answer = helper_mod.VALUE + 1\n"
        "if '--fail' in sys.argv:\n    raise RuntimeError('half way')\n"
    )
    result = session.run(f"%run {script} --epochs 3")
    assert result.error is None, result.error
    assert result.output == "args ['--epochs', '3'] __main__\n"
    assert session.namespace["answer"] == 42
    result = session.run(f"%run '{script}' --fail")
    assert "RuntimeError: half way" in result.error and "train.py" in result.error
    assert "magics.py" not in result.error  # dltui's own frames left out
    assert session.namespace["answer"] == 42  # kept from the failed run too
    result = session.run("%run no_such_script.py")
    assert result.error.startswith("%run: no file 'no_such_script.py'")


@pytest.mark.parametrize(
    "line, words",
    [
        ("!ls -l", "subprocess.run('ls -l', shell=True)"),
        ("%pip install einops", "run `pip install einops` in a shell"),
        ("%%timeit", "cell magic"),
        ("%whos", "supported are"),
        ("%timeit", "needs a statement"),
        ("%timeit -n 0 x", "at least 1"),
    ],
)
def test_other_magics_and_shell_lines_get_one_line(session: Session, line: str, words: str):
    result = session.run(line)
    assert result.error is not None and words in result.error, result.error
    assert "\n" not in result.error
    if not line.startswith("%timeit"):  # %timeit's options are read when it runs
        with pytest.raises(MagicHint):
            parse(line)


async def test_help_typed_in_the_app(make_app) -> None:
    app = make_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await run_code(pilot, app, "t = torch.zeros(4)")
        out = await run_code(pilot, app, "t?")
        assert "String form" in out and "torch.Tensor" in out, out
        out = await run_code(pilot, app, "%timeit -n 10 -r 2 t + 1")
        assert "per loop" in out, out


def test_the_folder_dltui_started_in_is_importable(tmp_path: Path, monkeypatch) -> None:
    import sys

    (tmp_path / "mymodel_for_dltui_test.py").write_text("WIDTH = 64\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    s = Session("cpu")
    s.load()
    monkeypatch.chdir("/")  # the REPL's own os.chdir does not move it
    result = s.run("import mymodel_for_dltui_test as m\nm.WIDTH")
    assert result.error is None and result.value_repr == "64", result.error
