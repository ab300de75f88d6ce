"""The inspector's detail view of one variable: layout, statistics, preview, histogram.

Shape, dtype and device show at once (they cost nothing); statistics arrive later from a
worker (a 10^8-element tensor takes seconds) and fill in. The histogram widget
(textual-plotext) is mounted on first use so that importing plotext does not delay the
app's first frame.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.markup import escape
from textual.widgets import Static

from tui.core.repl.inspect import TensorStats, VarInfo
from tui.core.text import human_bytes


class TensorDetail(VerticalScroll):
    """Details of the selected inspector row."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        # Focusable (Tab from the inspector's table): the keys scroll it to the histogram
        # and preview, which at 80x24 lie below the screen's end.
        self.can_focus = True
        self._plot = None
        self.current: str | None = None

    def compose(self) -> ComposeResult:
        yield Static("Select a row to see its details.", id="detail-head")
        yield Static("", id="detail-stats")
        yield Static("", id="detail-preview")

    def show_info(self, info: VarInfo | None) -> None:
        """Show what is known at once; statistics follow with :meth:`show_stats`."""
        head = self.query_one("#detail-head", Static)
        self.current = info.name if info else None
        self.query_one("#detail-preview", Static).update("")
        self._set_hist([], [])
        if info is None:
            head.update("Select a row to see its details.")
            self.query_one("#detail-stats", Static).update("")
            return
        bits = [f"[b]{escape(info.name)}[/b]  {info.kind}"]
        if info.shape is not None:
            bits.append(f"shape {info.shape_text}  dtype {info.dtype}  device {info.device}")
        else:
            bits.append(f"dtype {info.dtype}  device {info.device}")
        bits.append(f"numel {info.numel:,}  memory {human_bytes(info.nbytes)}  {info.grad}")
        head.update(bits[0] + "\n" + escape("\n".join(bits[1:])))
        self.query_one("#detail-stats", Static).update("computing statistics…")

    def show_stats(self, stats: TensorStats) -> None:
        if stats.name != self.current:
            return  # the user moved on before these arrived
        width = max((len(k) for k, _ in stats.lines), default=0)
        # Values are data, not markup: an error message such as "expected [N, C]" or one
        # holding "[/]" would lose words or raise MarkupError.
        text = escape("\n".join(f"{k.ljust(width)}  {v}" for k, v in stats.lines))
        if stats.submodules:
            text += "\n\n[b]submodules[/b]\n" + escape("\n".join(stats.submodules[:50]))
        self.query_one("#detail-stats", Static).update(text)
        preview = self.query_one("#detail-preview", Static)
        preview.update(escape(stats.preview) if stats.preview else "")
        self._set_hist(stats.hist_edges, stats.hist_counts)

    def _set_hist(self, edges: list[float], counts: list[int]) -> None:
        if not counts:
            if self._plot is not None:
                self._plot.display = False
            return
        if self._plot is None:
            from textual_plotext import PlotextPlot

            self._plot = PlotextPlot(id="detail-hist")
            self.mount(self._plot, before=self.query_one("#detail-preview"))
        self._plot.display = True
        plt = self._plot.plt
        plt.clear_data()
        plt.clear_figure()
        centers = [(edges[i] + edges[i + 1]) / 2 for i in range(len(counts))]
        plt.bar(centers, counts, width=0.9)
        # Ticks at the range's ends and middle, short labels: plotext's own choice
        # depends on the width at draw time and prints 16-digit floats.
        lo, hi = edges[0], edges[-1]
        ticks = [lo, (lo + hi) / 2, hi]
        plt.xticks(ticks, [f"{t:.3g}" for t in ticks])
        plt.title("histogram")
        self._plot.refresh()
