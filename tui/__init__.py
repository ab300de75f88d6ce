"""dltui: a terminal application for exploring PyTorch.

The package is split in two: ``tui.core`` is the engine (PyTorch, NumPy and the standard
library only) and ``tui.app`` with ``widgets`` is the Textual user interface on top of it.
"""

__version__ = "0.1.0"
