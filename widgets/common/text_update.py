"""Text updates that cost the terminal only what changed.

``Static.update()`` asks for a layout by default. A layout of the screen is not free
even when no size changes: Textual re-runs every scrolling widget's size update, and the
REPL output's and the runs table's scrollbars repaint (the REPL screen redrew 34 of 40
rows four times a second while a run trained, for a status line that was all that had
changed). :func:`set_text` skips an unchanged text, and asks for a layout only when the
new text can change the widget's size.
"""

from __future__ import annotations

from textual.widgets import Static


def set_text(widget: Static, text: str) -> bool:
    """Show ``text`` in ``widget``; returns whether anything was repainted.

    Same text: nothing. Otherwise the widget repaints its own region, plus a layout only
    when its size can follow its content (an auto width, or an auto height whose wrapped
    line count changes) or it has not been laid out yet.
    """
    if isinstance(widget.content, str) and widget.content == text:
        return False
    styles = widget.styles
    width = max(0, widget.content_size.width)
    auto_width = styles.width is not None and styles.width.is_auto
    auto_height = styles.height is None or styles.height.is_auto
    old_height = _height(widget, width) if width and auto_height else None
    widget.update(text, layout=False)
    resized = auto_height and (old_height is None or _height(widget, width) != old_height)
    if not width or auto_width or resized:
        widget.refresh(layout=True)
    return True


def _height(widget: Static, width: int) -> int | None:
    """The wrapped height of the widget's text at ``width``; None where it cannot be
    measured (Rich raises on some widths of a widget still being laid out)."""
    try:
        return widget.visual.get_height(widget.styles, width)
    except Exception:
        return None
