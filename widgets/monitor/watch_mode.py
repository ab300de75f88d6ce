"""The monitor under ``dltui watch PATH...``: many runs of any kind, tags, a run filter.

A mixin for the monitor pane. The engine's
:class:`~tui.core.train.sources.follow.SourceFollower` is polled on a thread worker
(never on the UI thread: listing folders and reading files can take time), at most one
poll at a time, every :data:`POLL_EVERY` seconds (sooner while a big log is read a
slice per poll and the UI has taken most of the last); the app starts the first poll
itself, while the panes mount. The pane's drain timer then takes at most
:data:`~widgets.monitor.watched.MAX_POINTS_PER_DRAIN` points (vectorised appends); a
backlog (a big log opened) is taken in more such slices :data:`CATCH_UP_GAP` seconds
apart, so keys are handled in between. The plot is redrawn only when a shown line
changed; the runs list is updated when a run's step or state changed, else every
:data:`TABLE_EVERY` seconds for the ages (cell by cell, only what changed: bytes to the
terminal are the budget over SSH), never redrawing the plot. A single dltui
run directory is still followed the older way (``watch_run``), with its progress line
and its settings in the form.

Keys: ``t`` picks the plotted tag (fuzzy), ``T`` adds or removes one, ``/`` filters runs
by a regex over their names, ``c`` hides or shows the selected run, ``a`` cycles the x
axis (step, relative time, wall-clock time).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from textual import work
from textual.widgets import Static

from tui.core.train.sources.dltui import is_dltui_run
from tui.core.train.sources.follow import MAX_QUEUED, SourceFollower
from tui.core.train.sources.tags import fuzzy_match, tag_groups
from widgets.common.dialogs import Choice, PickerDialog, PromptDialog
from widgets.monitor.runs_table import RunsTable
from widgets.monitor.watched import MAX_POINTS_PER_DRAIN, WatchedRuns

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["POLL_EVERY", "TABLE_EVERY", "WatchSources", "follows_sources"]

POLL_EVERY = 0.5
CATCH_UP_GAP = 0.01
TABLE_EVERY = 2.0
NOT_WATCHING = "tags and run filters are for dltui watch PATH... (the runs of other programs)"


def follows_sources(paths: Sequence[Path]) -> bool:
    """Whether ``dltui watch PATHS`` follows sources (not one dltui run the older way)."""
    return not (len(paths) == 1 and (is_dltui_run(paths[0]) or not paths[0].exists()))


def _by_fuzzy(query: str, choices: Sequence[Choice]) -> list[Choice]:
    by_key = {c.key: c for c in choices}
    return [by_key[k] for k in fuzzy_match(query.strip(), list(by_key))]


class WatchSources:
    """Mixin for the monitor pane: following many runs (module docstring)."""

    watched: WatchedRuns | None = None
    _polling = False
    _polled_at = 0.0
    _table_at = 0.0
    _summary = ""
    _catching_up = False
    _plot_dirty = False  # a slice changed a shown line since the last redraw
    _rows_seen: list[tuple[str, object, int | None]] | None = None  # as the list shows them

    def watch_paths(self, paths: list[Path], follower: SourceFollower | None = None) -> None:
        """Follow ``dltui watch PATH...``: one dltui run (or a run folder not written
        yet) the older way, anything else as a set of sources (``follower``, when
        given, already following them: the app starts the first poll early)."""
        if not follows_sources(paths):
            self.watch_run(paths[0])  # type: ignore[attr-defined]
            return
        follower = follower if follower is not None else SourceFollower.of(list(paths))
        self.watched = WatchedRuns(follower, self.smoothing)  # type: ignore[attr-defined]
        self._message(f"watching {', '.join(str(p) for p in paths)}")  # type: ignore[attr-defined]
        self._drain_watched()

    @work(thread=True, exit_on_error=False, group="watch-sources")
    def _poll_sources(self, follower: SourceFollower) -> None:
        try:
            follower.poll()
        finally:
            self._polling = False

    def _drain_watched(self) -> None:
        watched = self.watched
        assert watched is not None
        now = time.monotonic()
        follower = watched.follower
        # A big log being read: the next slice as soon as the UI has taken most of the
        # last, not a poll interval later.
        hungry = follower.backlog and follower.queued < MAX_QUEUED // 2
        if not self._polling and (hungry or now - self._polled_at >= POLL_EVERY):
            self._polling, self._polled_at = True, now
            self._poll_sources(follower)
        batch = watched.follower.take(MAX_POINTS_PER_DRAIN)
        self.drains += 1  # type: ignore[attr-defined]
        if watched.apply(batch) or self._plot_dirty:
            self._plot_dirty = False
            self._redraw()  # type: ignore[attr-defined]
        if batch.more and not self._catching_up:
            self._catching_up = True
            self.set_timer(CATCH_UP_GAP, self._catch_up)  # type: ignore[attr-defined]
        if batch.rows is not None:
            # A new step or state is shown at once (a point on screen within a second of
            # its flush); otherwise only the ages tick, every TABLE_EVERY. Only changed
            # cells are sent, and the plot is not touched.
            seen = [(r.name, r.state, r.last_step) for r in batch.rows]
            if seen != self._rows_seen or now - self._table_at >= TABLE_EVERY:
                self._rows_seen, self._table_at = seen, now
                self._show_watched()

    def _catch_up(self) -> None:
        """One more slice of a backlog; the drain timer redraws as the slices land."""
        watched = self.watched
        if watched is None:
            self._catching_up = False
            return
        batch = watched.follower.take(MAX_POINTS_PER_DRAIN)
        self._plot_dirty = watched.apply(batch) or self._plot_dirty
        if batch.more:
            self.set_timer(CATCH_UP_GAP, self._catch_up)  # type: ignore[attr-defined]
            return
        self._catching_up = False
        if self._plot_dirty:
            self._plot_dirty = False
            self._redraw()  # type: ignore[attr-defined]

    def _show_watched(self) -> None:
        watched = self.watched
        if watched is None:
            return
        label = watched.tags[0] if watched.tags else "value"
        self.query_one(RunsTable).show_watched(watched.table(), label)  # type: ignore[attr-defined]
        summary = watched.summary()
        if summary != self._summary:  # the same text again would repaint the line
            self._summary = summary
            self.query_one("#train-progress", Static).update(summary)  # type: ignore[attr-defined]

    def _changed_choice(self) -> None:
        self._redraw()  # type: ignore[attr-defined]
        self._show_watched()

    # -- keys --
    def action_pick_tag(self) -> None:
        self._tag_dialog(add=False)

    def action_add_tag(self) -> None:
        self._tag_dialog(add=True)

    def _tag_dialog(self, add: bool) -> None:
        watched = self.watched
        if watched is None:
            self.notify(NOT_WATCHING)  # type: ignore[attr-defined]
            return
        tags = watched.all_tags
        if not tags:
            self.notify("No tags yet: the watched runs have logged no scalars so far.")  # type: ignore[attr-defined]
            return
        groups = {tag: group for group, members in tag_groups(tags).items() for tag in members}
        choices = []
        for tag in tags:
            n = watched.runs_with(tag)
            mark = "✓ " if tag in watched.tags else ""
            hint = f"{mark}{n} run{'s' if n != 1 else ''}, group {groups[tag]}"
            choices.append(Choice(tag, tag, hint))
        title = "Add or remove a plotted tag" if add else "Plot the tag"

        def done(tag: str | None) -> None:
            if tag is None or self.watched is None:
                return
            if add:
                refused = self.watched.toggle(tag)
                if refused is not None:
                    self.notify(refused, severity="warning")  # type: ignore[attr-defined]
                    return
            else:
                self.watched.pick(tag)
            self._changed_choice()

        self.app.push_screen(PickerDialog(title, choices, choose=_by_fuzzy), done)  # type: ignore[attr-defined]

    def action_filter_runs(self) -> None:
        watched = self.watched
        if watched is None:
            self.notify(NOT_WATCHING)  # type: ignore[attr-defined]
            return

        def validate(text: str) -> str | None:
            from tui.core.train.sources.tags import compile_filter

            return compile_filter(text.strip())[1]

        def done(text: str | None) -> None:
            if text is not None and self.watched is not None:
                self.watched.set_filter(text.strip())
                self._changed_choice()

        hint = "a regex searched in run names, case-insensitive; empty shows every run"
        self.app.push_screen(  # type: ignore[attr-defined]
            PromptDialog("Show the runs matching", watched.run_filter, hint, validate), done
        )

    def toggle_watched_run(self) -> None:
        """``c`` under ``dltui watch``: hide or show the selected run's lines."""
        assert self.watched is not None
        key = self.query_one(RunsTable).selected_key()  # type: ignore[attr-defined]
        if key is None:
            self.notify("No runs found yet.")  # type: ignore[attr-defined]
            return
        self.watched.toggle_hidden(key)
        self._changed_choice()
