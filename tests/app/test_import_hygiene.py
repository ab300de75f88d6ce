"""The engine stays apart from the UI: no tui.core module may import Textual (or widgets).

The modules are found by globbing tui/core/**/*.py (every subpackage), so a new one is
covered without editing this test. They are imported in a fresh interpreter (this one has
Textual loaded already), one after another, checking sys.modules after each: if Textual is
absent at the end, no module pulled it in, and the first offender is named otherwise.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import tui.core

CORE_DIR = Path(tui.core.__file__).parent
MODULES = sorted(
    ".".join(("tui", "core", *p.relative_to(CORE_DIR).with_suffix("").parts)).removesuffix(
        ".__init__"
    )
    for p in CORE_DIR.rglob("*.py")
)

CHECK = """
import importlib, json, sys
found = {}
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "widgets")
                    or m == "tui.app")
    if leaked:
        found[name] = leaked
        break
print(json.dumps(found))
"""


def test_the_glob_finds_the_engine_modules() -> None:
    assert {"tui.core.repl.session", "tui.core.repl.inspect", "tui.core.repl.history"} <= set(
        MODULES
    )


def test_no_core_module_imports_textual() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHECK, json.dumps(MODULES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    leaks = json.loads(done.stdout.strip().splitlines()[-1])
    assert leaks == {}, f"imported by the engine: {leaks}"
