"""The footer: Textual's compact footer, showing only the keys that fit whole.

Textual's footer lays every shown binding out in one row and docks the command-palette
key over its right end, so at 80 columns the last binding was cut behind it
(``^c Interr▏^p Commands``), and the palette key's right margin let one more cell of the
row show through after it (``Commandse``). Here the keys that do not fit whole are
hidden, last first; F1 still lists every key of the pane.
"""

from __future__ import annotations

from textual import events
from textual.widget import Widget
from textual.widgets import Footer


class KeysFooter(Footer):
    """A compact footer that drops the keys that would be cut at its right end."""

    DEFAULT_CSS = """
    KeysFooter.-compact FooterKey.-command-palette {
        margin-right: 0;
    }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(compact=True, **kwargs)  # type: ignore[arg-type]
        # Each key's width when shown (its margin included), measured on the first layout
        # after a recompose: a hidden widget has no size to measure.
        self._widths: dict[Widget, int] = {}
        self.fitted = 0  # how many times the keys were fitted; tests wait on it
        self._retries = 0

    async def recompose(self) -> None:
        self._widths = {}
        self._retries = 0
        await super().recompose()
        self.call_after_refresh(self.fit_keys)

    def on_resize(self, event: events.Resize) -> None:
        self.call_after_refresh(self.fit_keys)

    def _row(self) -> tuple[list[Widget], Widget | None]:
        keys: list[Widget] = []
        palette = None
        for child in self.children:
            if child.has_class("-command-palette"):
                palette = child
            else:
                keys.append(child)
        return keys, palette

    def fit_keys(self) -> None:
        """Show the keys, in order, while they fit whole beside the palette key."""
        keys, palette = self._row()
        unmeasured = False
        for key in keys:
            if key not in self._widths and key.display:
                if not key.region.width and not key.size.width:
                    unmeasured = True  # not laid out yet: measured after the next refresh
                    continue
                margin = key.styles.margin
                self._widths[key] = key.outer_size.width + margin.left + margin.right
        room = self.size.width
        if palette is not None and palette.display:
            room -= palette.outer_size.width
        used = 0
        full = False
        for key in keys:
            width = self._widths.get(key)
            if width is None:
                continue
            # The last key's right margin may fall under the palette's border.
            full = full or used + width - key.styles.margin.right > room
            key.display = not full
            if not full:
                used += width
        self.fitted += 1
        if unmeasured and self._retries < 20:
            self._retries += 1
            self.call_after_refresh(self.fit_keys)

    def shown_text(self) -> str:
        """The footer's keys as a user reads them (for tests): shown keys only."""
        keys, palette = self._row()
        return " ".join(
            f"{getattr(k, 'key_display', '')} {getattr(k, 'description', '')}".strip()
            for k in [*keys, *([palette] if palette else [])]
            if k.display
        )
