"""Short import path for the run logger: ``from tui.logger import open_run``.

See :mod:`tui.core.train.logger`.
"""

from tui.core.train.logger import Run, open_run

__all__ = ["Run", "open_run"]
