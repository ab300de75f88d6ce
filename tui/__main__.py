"""Entry point for ``python -m tui``: the same as the ``dltui`` console script."""

from tui.cli import main

raise SystemExit(main())
