"""Moving the focus at once, for keys that move it.

``Widget.focus()`` defers the move (``call_later``): keys already queued behind the key
that moved it (typed fast, or pasted) still went to the widget it left, so ``e`` then
``5`` typed 5 into the runs table and F4 then ``s`` typed s into the REPL input.
"""

from __future__ import annotations

from textual.dom import NoScreen
from textual.widget import Widget


def focus_now(widget: Widget) -> None:
    """Focus ``widget`` before the next queued key is handled."""
    try:
        widget.screen.set_focus(widget)
    except NoScreen:  # not on a screen yet: the deferred way, as before
        widget.focus()
