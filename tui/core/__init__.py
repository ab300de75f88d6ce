"""The dltui engine: everything that touches PyTorch, with no Textual import.

Modules here run headless (in scripts, in ``dltui train``, in fast tests); the widgets
render what they compute. A test asserts that importing any of them leaves ``textual``
out of ``sys.modules``.
"""
