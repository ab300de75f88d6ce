"""``dltui export SPEC.json``: PyTorch code that rebuilds a stack spec, on stdout.

The code is :func:`tui.core.builder.codegen.export_code`'s (the builder's ``E`` writes the
same), exit code 0. A bad spec or a row whose input does not fit: one line on stderr
naming the file and the place, nothing on stdout, exit code 2.
"""

from __future__ import annotations

import sys

from tui.core.builder.codegen import export_code
from tui.core.builder.spec import SpecError, load_spec_file

__all__ = ["run"]


def run(spec_path: str) -> int:
    """Print the code of the spec at ``spec_path``; return the exit code."""
    try:
        stack = load_spec_file(spec_path)
        code = export_code(stack)
    except SpecError as exc:
        # A shape error names the row only: say which file it is in, as a read error does.
        if not exc.place.startswith(spec_path):
            exc = SpecError(f"{spec_path}: {exc.place}", exc.message)
        print(f"dltui: error: {exc}", file=sys.stderr)
        return 2
    sys.stdout.write(code)
    return 0
