"""The monitor pane's keys: one Binding per action, each with an id (the palette and the
help screen are built from them) and a tooltip saying what it does."""

from __future__ import annotations

from textual.binding import Binding, BindingType

MONITOR_BINDINGS: list[BindingType] = [
    Binding(
        "s",
        "start",
        "Start",
        id="monitor.start",
        tooltip="Start a run with the form's settings",
    ),
    Binding(
        "space", "pause", "Pause/resume", id="monitor.pause", tooltip="Pause or resume the run"
    ),
    Binding(
        "n",
        "step",
        "Step",
        show=False,
        id="monitor.step",
        tooltip="One optimizer step while paused",
    ),
    Binding(
        "x",
        "stop",
        "Stop",
        id="monitor.stop",
        tooltip="Stop after the current step (checkpoint kept)",
    ),
    Binding(
        "plus,equals_sign",
        "lr(2.0)",
        "lr×2",
        id="monitor.lr_up",
        tooltip="Double the learning rate (applies at the next step)",
    ),
    Binding("minus", "lr(0.5)", "lr÷2", id="monitor.lr_down", tooltip="Halve the learning rate"),
    Binding(
        "right_square_bracket",
        "smoothing(0.1)",
        "Smooth+",
        show=False,
        id="monitor.smooth_up",
        tooltip="More EMA smoothing",
    ),
    Binding(
        "left_square_bracket",
        "smoothing(-0.1)",
        "Smooth-",
        show=False,
        id="monitor.smooth_down",
        tooltip="Less EMA smoothing",
    ),
    Binding(
        "l", "logy", "Log y", show=False, id="monitor.logy", tooltip="Toggle a log-scale y axis"
    ),
    Binding(
        "a",
        "xaxis",
        "X axis",
        show=False,
        id="monitor.xaxis",
        tooltip="x axis: step, epoch, relative time or wall-clock time",
    ),
    Binding(
        "t",
        "pick_tag",
        "Tag",
        show=False,  # a watch-mode key: the footer at 80 columns has no room to spare
        id="monitor.tag",
        tooltip="Pick the tag the plot shows (fuzzy, under dltui watch)",
    ),
    Binding(
        "T",
        "add_tag",
        "Add tag",
        show=False,
        id="monitor.add_tag",
        tooltip="Add a tag to the plot, or take one out (several tags on one plot)",
    ),
    Binding(
        "slash",
        "filter_runs",
        "Filter runs",
        show=False,
        id="monitor.filter",
        tooltip="Show only the runs whose name matches a regex (empty: all)",
    ),
    Binding(
        "c",
        "compare",
        "Compare",
        id="monitor.compare",
        tooltip="Overlay the selected past run's curve (again: remove); "
        "under dltui watch, hide or show the selected run",
    ),
    Binding(
        "r",
        "resume_run",
        "Resume",
        show=False,
        id="monitor.resume",
        tooltip="Resume the selected stopped or died run from its last checkpoint",
    ),
    Binding(
        "R",
        "refresh_runs",
        "Refresh runs",
        show=False,
        id="monitor.refresh",
        tooltip="Re-read the runs folder",
    ),
    Binding(
        "e", "edit_form", "Form", show=False, id="monitor.form", tooltip="Edit the run settings"
    ),
    Binding(
        "escape",
        "leave_form",
        "Runs",
        show=False,
        id="monitor.runs",
        tooltip="From the form to the runs list",
    ),
    Binding(
        "f",
        "fit",
        "Fit",
        show=False,
        id="monitor.fit",
        tooltip="Fit the builder's stack to the data (input shape, outputs) after s failed",
    ),
]
