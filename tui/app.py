"""The Textual application: panes, global keys, command palette, engine start-up.

The first frame must not wait for ``import torch`` (~1.5 s): nothing here imports torch
at module level; a thread worker loads the engine after mounting, and panes queue what the
user does meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.driver import Driver
from textual.message import Message
from textual.screen import Screen
from textual.widget import AwaitMount
from textual.widgets import ContentSwitcher, Static
from textual.worker import Worker, WorkerState

from tui import __version__
from tui.core.repl.capture import CAPTURE
from tui.core.repl.history import History
from tui.core.repl.session import Session, SessionInfo
from tui.palette import pane_commands

if TYPE_CHECKING:
    from tui.core.builder.spec import LayerStack
    from tui.core.train.sources.follow import SourceFollower
    from widgets.builder.pane import StackBuilder
    from widgets.monitor.fitting import FitStack
    from widgets.monitor.pane import MonitorPane
from widgets.common.focus import focus_now
from widgets.common.footer import KeysFooter
from widgets.common.partial_update import install as install_partial_updates
from widgets.common.status_line import StatusLine, SystemFeed
from widgets.common.terminal import terminal_driver
from widgets.repl.input import ReplInput
from widgets.repl.pane import ReplPane

PANES: list[tuple[str, str, str]] = [
    # (content id, tab label, key)
    ("repl", "REPL", "F2"),
    ("builder", "Builder", "F3"),
    ("monitor", "Monitor", "F4"),
]


class DltuiApp(App[int]):
    """dltui: tensor REPL with inspector (more panes arrive with their features)."""

    TITLE = "dltui"
    CSS_PATH = "app.tcss"
    # Below 100 columns the inspector moves under the REPL (see app.tcss).
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-wide")]

    BINDINGS = [
        Binding("f1", "help", "Help", id="app.help", tooltip="Every key of the focused pane"),
        Binding("question_mark", "help", "Help", show=False, id="app.help_q"),
        # The pane keys are on the tab row at the top: the footer has no room for them.
        # They are priority bindings, handled by the app before it forwards the next key:
        # otherwise F4 reached the app only after bubbling up from the focused widget, and
        # an s typed right behind it had already gone to the REPL's input.
        Binding(
            "f2",
            "show_pane('repl')",
            "REPL",
            id="app.repl",
            show=False,
            priority=True,
            tooltip="The tensor REPL",
        ),
        Binding(
            "f3",
            "show_pane('builder')",
            "Builder",
            id="app.builder",
            show=False,
            priority=True,
            tooltip="The layer-stack builder",
        ),
        Binding(
            "f4",
            "show_pane('monitor')",
            "Monitor",
            id="app.monitor",
            show=False,
            priority=True,
            tooltip="The training monitor",
        ),
        Binding(
            "ctrl+c",
            "interrupt",
            "Interrupt",
            id="app.interrupt",
            priority=True,
            tooltip="Interrupt running REPL code (or clear the input)",
        ),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True, tooltip="Quit dltui"),
        # The footer already shows ctrl+p at its right edge.
        Binding(
            "ctrl+p",
            "command_palette",
            "Commands",
            id="app.palette",
            show=False,
            tooltip="Every action by name",
        ),
    ]

    @dataclass
    class SessionReady(Message):
        """torch is imported and the REPL namespace exists."""

        info: SessionInfo

    @dataclass
    class EngineReady(Message):
        """Everything is warm: the builder's meta path and the plot library too."""

        info: SessionInfo

    @dataclass
    class EngineFailed(Message):
        error: str

    def __init__(
        self,
        device: str | None = None,
        workspace: str | Path = ".",
        watch: str | list[str] | None = None,
        history: History | None = None,
    ) -> None:
        """``watch``: the paths of ``dltui watch PATH...`` (one or several), or None."""
        super().__init__()
        # Partial repaints send only the changed cells of a line (widgets/common/
        # partial_update.py): the plot's new points no longer resend whole rows.
        install_partial_updates()
        self.session = Session(device)
        # Absolute from the start: REPL code may os.chdir, and a relative workspace would
        # then move with it (the builder's export wrote /model.py while saying model.py).
        self.workspace = Path(os.path.abspath(Path(workspace).expanduser()))
        paths = [watch] if isinstance(watch, str) else list(watch or [])
        self.watch_paths = [os.path.abspath(Path(p).expanduser()) for p in paths]
        self.system: SystemFeed | None = None
        self.history = history if history is not None else History()
        self.engine_ready = False
        self._quit_armed = False
        self._panes_mounted = False
        self._engine_started = False
        self._follower: SourceFollower | None = None  # dltui watch's, polled from the start
        self._panes_done = asyncio.Event()

    def get_driver_class(self) -> type[Driver]:
        # Writes to the terminal kept by CAPTURE: fds 1 and 2 are a pipe while we run.
        return terminal_driver(super().get_driver_class())

    def on_load(self) -> None:
        # Before Textual builds its driver: user code's prints, fd 1/2 writes and child
        # processes land in the REPL output from here on, never on the terminal.
        CAPTURE.start()

    def on_unmount(self) -> None:
        # The sampler's thread is not a daemon: stopped and joined before the exit.
        if self.system is not None:
            self.system.stop()
        CAPTURE.stop()

    def compose(self) -> ComposeResult:
        yield Static(self._tabs_text("repl"), id="pane-tabs")
        with ContentSwitcher(initial="repl", id="panes"):
            # The builder and monitor are mounted after the first frame (_mount_panes):
            # styling their widgets would delay it by a third.
            yield ReplPane(self.session, self.history, id="repl")
        yield StatusLine(id="status")
        yield KeysFooter()

    def on_mount(self) -> None:
        self.title = f"dltui {__version__}"
        if not self.is_headless:
            self._catch_signals()
        if self.watch_paths:
            self.call_after_refresh(self._first_poll)
            self.call_after_refresh(self.action_show_pane, "monitor")
        # Start importing torch only once the first frame is painted: the import holds the
        # GIL most of the time, and started earlier it slows the first frame down.
        self.call_after_refresh(self._after_first_frame)
        if os.environ.get("DLTUI_FIRST_FRAME_FILE"):
            self.call_after_refresh(self._report_first_frame)

    async def _after_first_frame(self) -> None:
        # CPU, memory and GPU figures every 2 s on the sampler's own thread; started after
        # the first frame, which must not wait for psutil or NVML to load.
        self.system = SystemFeed(self.query_one(StatusLine), self.session).start()
        await self._panes_ready()
        if self.watch_paths:
            # dltui watch: reading logs needs no torch, whose import costs seconds and
            # ~200 MB (the budget for opening 10^6 scalars is 2 s and 150 MB). The plot
            # comes first; torch loads when a pane needs it (F2, F3, a run started).
            self.query_one(StatusLine).torch_state = "torch not loaded (F2 loads it)"
            monitor = self.monitor_pane
            monitor.show_plot()
            monitor.watch_paths([Path(p) for p in self.watch_paths], self._follower)
            return
        self.load_engine_once()

    def _first_poll(self) -> None:
        """dltui watch: start reading the logs now, on a worker thread, so that a big
        log is read while the panes mount (NumPy's loops leave the UI thread the GIL)."""
        from tui.core.train.sources.follow import SourceFollower
        from widgets.monitor.watch_mode import follows_sources

        paths = [Path(p) for p in self.watch_paths]
        if follows_sources(paths):
            self._follower = SourceFollower.of(list(paths))
            self._poll_early(self._follower)

    @work(thread=True, exit_on_error=False, group="watch-sources")
    def _poll_early(self, follower: SourceFollower) -> None:
        follower.poll()

    def load_engine_once(self) -> None:
        """Start loading torch and the engine (once; later calls do nothing)."""
        if self._engine_started:
            return
        self._engine_started = True
        self.query_one(StatusLine).torch_state = "torch loading…"
        self._load_engine()

    async def _panes_ready(self) -> None:
        """Mount the builder and monitor if not yet, and wait until they are mounted:
        by whichever caller came first (F4 at start and the first frame's hook race)."""
        pending = self._mount_panes()
        if pending is not None:
            await pending
            self._panes_done.set()
        else:
            await self._panes_done.wait()

    def _mount_panes(self) -> AwaitMount | None:
        """Mount the builder and monitor (once); called after the first frame or on F3/F4.

        Returns the mount to await, or None when they were mounted already.
        """
        if self._panes_mounted:
            return None
        self._panes_mounted = True
        # Imported here, not at the top: the first frame does not need them.
        from widgets.builder.pane import StackBuilder
        from widgets.monitor.pane import MonitorPane

        builder = StackBuilder(self.workspace, id="builder")
        monitor = MonitorPane(
            self.workspace, self.session, stack_source=self.builder_stack, id="monitor"
        )
        # ContentSwitcher hides only the children it had when mounted.
        builder.display = monitor.display = False
        return self.query_one(ContentSwitcher).mount(builder, monitor)

    def _report_first_frame(self) -> None:
        # For bench/startup.py: the wall-clock time of the first painted frame.
        Path(os.environ["DLTUI_FIRST_FRAME_FILE"]).write_text(repr(time.time()))
        if os.environ.get("DLTUI_EXIT_AFTER_FIRST_FRAME"):
            self.exit(0)

    # -- engine start-up --
    @work(thread=True, exit_on_error=False, group="startup")
    def _load_engine(self) -> None:
        try:
            info = self.session.load()
            # The REPL can run code from here on; the builder and monitor need more.
            self.post_message(self.SessionReady(info))
            # Pre-import the plot library here rather than on the UI thread at first use.
            import textual_plotext  # noqa: F401

            from tui.core.builder.propagate import warm_up

            # The first meta-device call loads kernels (1-3 s): pay it here, not on the
            # builder's first edit.
            warm_up()
        except BaseException as exc:
            self.post_message(self.EngineFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.EngineReady(info))

    @on(SessionReady)
    def _session_ready(self, event: SessionReady) -> None:
        status = self.query_one(StatusLine)
        status.torch_state = f"torch {event.info.torch_version} │ device {event.info.device}"
        self.query_one(ReplPane).engine_ready()

    @on(EngineReady)
    def _engine_ready(self, event: EngineReady) -> None:
        self.engine_ready = True
        self.builder_pane.engine_ready()
        monitor = self.monitor_pane
        monitor.engine_ready()  # the watch, if any, started before torch

    @on(EngineFailed)
    def _engine_failed(self, event: EngineFailed) -> None:
        if self.session.loaded:
            # The REPL works; only the builder/monitor warm-up failed.
            message = f"The builder and monitor could not start: {event.error}"
        else:
            self.query_one(StatusLine).torch_state = "torch failed to load"
            message = (
                f"PyTorch could not be imported: {event.error}. "
                "Install it (make run does) and restart."
            )
        self.notify(message, severity="error", timeout=30)

    # -- panes --
    def _tabs_text(self, active: str) -> str:
        parts = []
        for pane_id, label, key in PANES:
            text = f" {key} {label} "
            parts.append(f"[reverse b]{text}[/]" if pane_id == active else text)
        return "".join(parts)

    async def action_show_pane(self, pane_id: str) -> None:
        await self._panes_ready()
        if pane_id != "monitor":  # under dltui watch torch loads when first needed
            self.load_engine_once()
        switcher = self.query_one(ContentSwitcher)
        switcher.current = pane_id
        self.query_one("#pane-tabs", Static).update(self._tabs_text(pane_id))
        if pane_id == "repl":
            focus_now(self.query_one(ReplInput))
        elif pane_id == "builder":
            self.builder_pane.focus_table()
        elif pane_id == "monitor":
            self.monitor_pane.focus_default()

    @property
    def builder_pane(self) -> StackBuilder:
        """The builder pane (mounted after the first frame)."""
        return self.query_one("#builder")  # type: ignore[return-value]

    @property
    def monitor_pane(self) -> MonitorPane:
        """The monitor pane (mounted after the first frame)."""
        return self.query_one("#monitor")  # type: ignore[return-value]

    @property
    def current_pane(self) -> str:
        return self.query_one(ContentSwitcher).current or "repl"

    # -- global actions --
    def action_interrupt(self) -> None:
        repl = self.query_one(ReplPane)
        if repl.interrupt():
            self.notify("KeyboardInterrupt sent to the running code.", timeout=3)
        elif self.current_pane == "repl":
            repl.clear_input()

    def action_help(self) -> None:
        from widgets.common.help_screen import HelpScreen

        if isinstance(self.screen, HelpScreen):
            return
        rows: list[tuple[str, str, str]] = []
        ours: list[bool] = []
        seen: set[tuple[str, str]] = set()
        for key, active in self.screen.active_bindings.items():
            binding = active.binding
            if (key, binding.action) in seen or not binding.description:
                continue
            seen.add((key, binding.action))
            rows.append((self.get_key_display(binding), binding.description, binding.tooltip or ""))
            ours.append(binding.id is not None)
        # dltui's own bindings (they all have ids) first; Textual's widget keys after.
        rows = [r for _, r in sorted(zip(ours, rows, strict=True), key=lambda t: not t[0])]
        pane = dict((p[0], p[1]) for p in PANES).get(self.current_pane, "")
        self.push_screen(HelpScreen(f"Keys: {pane} pane (focused: {self._focus_name()})", rows))

    def _focus_name(self) -> str:
        focused = self.focused
        return type(focused).__name__ if focused is not None else "nothing"

    def action_clear_output(self) -> None:
        self.query_one(ReplPane).action_clear_output()

    def action_reset_namespace(self) -> None:
        self.query_one(ReplPane).reset_namespace()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for pane_id, label, key in PANES:
            yield SystemCommand(
                f"{label} pane",
                f"Switch to the {label} pane ({key})",
                lambda pane_id=pane_id: self.call_later(self.action_show_pane, pane_id),
            )
        # Every key a pane defines is a command too, named by its binding's description:
        # one list (the panes' BINDINGS) feeds the footer, the help screen and the palette.
        for pane_id, label, _ in PANES:
            yield from pane_commands(self, pane_id, label)
        yield SystemCommand(
            "REPL: reset namespace",
            "Forget every REPL variable; keep torch, nn, F, …",
            self.action_reset_namespace,
        )
        yield SystemCommand(
            "REPL: interrupt running code",
            "Raise KeyboardInterrupt in the REPL code (ctrl+c)",
            self.action_interrupt,
        )
        yield SystemCommand(
            "Builder: pull nn.Sequential from the REPL",
            "Load a REPL variable (an nn.Sequential of catalogue layers) into the builder",
            self.action_pull_from_repl,
        )
        yield SystemCommand("Show keys", "Every binding of the focused pane (F1)", self.action_help)

    # -- pane messages --
    @on(ReplPane.BusyChanged)
    def _busy(self, event: ReplPane.BusyChanged) -> None:
        status = self.query_one(StatusLine)
        status.set_busy(event.label)
        if event.label is None:
            status.set_cuda(event.cuda)

    # -- monitor --
    def builder_stack(self) -> LayerStack | None:
        """A copy of the builder's stack, for the monitor (call on the UI thread)."""
        stack = self.builder_pane.stack
        return stack.copy() if stack is not None else None

    def on_fit_stack(self, event: FitStack) -> None:
        # The monitor's f: the builder takes the fitted stack as one undoable edit.
        self.builder_pane.set_stack(event.stack)

    def on_monitor_pane_progress_summary(self, event: MonitorPane.ProgressSummary) -> None:
        self.query_one(StatusLine).extra = event.text

    def on_monitor_pane_run_ended(self, event: MonitorPane.RunEnded) -> None:
        # The monitor bound the model (never over the user's own `model`: it says where).
        # query, not query_one: a run may end while the app is closing, its panes gone.
        for pane in self.query(ReplPane) if event.model_name else ():
            pane.announce(f"monitor → {event.model_name}: the trained model ({event.state} run)")

    def _catch_signals(self) -> None:
        # SIGTERM (kill, a scheduler) and SIGHUP (the SSH link dropped) would end the
        # process in the middle of a training step: status.json left "running", the
        # steps since the last checkpoint lost. Handled in the event loop instead: the
        # run is stopped at a step boundary with a checkpoint, then the app exits.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self._on_signal, sig)

    def _on_signal(self, sig: int) -> None:
        """Stop a training run cleanly and exit with 128 + the signal's number."""
        for monitor in self.query("#monitor"):  # not mounted yet in the first frame
            monitor.stop_for_quit()  # type: ignore[attr-defined]
        self.exit(return_code=128 + sig)

    def on_monitor_pane_post_mortem(self, event: MonitorPane.PostMortem) -> None:
        for pane in self.query(ReplPane):
            pane.announce(
                f"monitor → the run paused on a non-finite loss at step {event.step}: "
                f"{', '.join(event.names)} are here (print {event.names[-1]} for where it "
                "started); space in the monitor retries the step"
            )

    async def action_quit(self) -> None:
        monitor = self.monitor_pane
        if monitor.training and not self._quit_armed:
            self._quit_armed = True
            self.set_timer(4, self._disarm_quit)
            self.notify(
                "A run is training: ctrl+q again within 4 s stops it and quits.", severity="warning"
            )
            return
        monitor.stop_for_quit()
        self.exit(0)

    def _disarm_quit(self) -> None:
        self._quit_armed = False

    # -- builder <-> REPL --
    def on_stack_builder_send_to_repl(self, event: StackBuilder.SendToRepl) -> None:
        if self.query_one(ReplPane).running:
            self.notify("REPL code is running: try again when it has finished.", severity="warning")
            return
        self._build_into_namespace(event.stack)

    @work(thread=True, exit_on_error=False, group="handoff")
    def _build_into_namespace(self, stack: LayerStack) -> None:
        from tui.core.builder.codegen import build_module
        from tui.core.builder.spec import SpecError

        device = self.session.info.device if self.session.info else "cpu"
        try:
            module = build_module(stack, device=device)
        except (SpecError, RuntimeError) as exc:
            self.call_from_thread(
                self.notify, f"Could not build the stack: {exc}", severity="error"
            )
            return
        self.session.namespace["model"] = module
        params = sum(p.numel() for p in module.parameters())
        note = (
            f"builder → model: nn.Sequential of {len(module)} layers, {params:,} params on {device}"
        )
        self.call_from_thread(self._handoff_done, note)

    def _handoff_done(self, note: str) -> None:
        self.query_one(ReplPane).announce(note)
        self.notify(note, timeout=4)

    def action_pull_from_repl(self) -> None:
        if not self.engine_ready:
            self.notify("torch is still loading.", severity="warning")
            return
        from widgets.common.dialogs import PromptDialog

        names = [
            n
            for n in self.session.user_names()
            if type(self.session.namespace[n]).__name__ == "Sequential"
        ]
        hint = (
            ("nn.Sequential variables: " + ", ".join(names))
            if names
            else "no nn.Sequential in the REPL yet"
        )

        def validate(text: str) -> str | None:
            obj = self.session.namespace.get(text.strip())
            if obj is None:
                return f"no variable {text.strip()!r} in the REPL"
            if type(obj).__name__ != "Sequential":
                return f"{text.strip()} is a {type(obj).__name__}, not an nn.Sequential"
            return None

        builder = self.builder_pane
        shape = builder.stack.input_shape if builder.stack else (1, 28, 28)

        def done(text: str | None) -> None:
            if text is not None:
                self._pull(text.strip(), shape)

        self.push_screen(
            PromptDialog(
                "Pull into the builder: variable name",
                names[0] if names else "model",
                hint,
                validate,
            ),
            done,
        )

    @work(thread=True, exit_on_error=False, group="handoff")
    def _pull(self, name: str, shape: tuple[int, ...]) -> None:
        from tui.core.builder.codegen import stack_from_module

        try:
            stack = stack_from_module(self.session.namespace[name], shape)
        except (ValueError, KeyError) as exc:
            self.call_from_thread(self.notify, f"Cannot pull {name}: {exc}", severity="error")
            return
        self.call_from_thread(self._pulled, name, stack)

    def _pulled(self, name: str, stack: LayerStack) -> None:
        builder = self.builder_pane
        builder.set_stack(stack)
        self.call_later(self.action_show_pane, "builder")
        self.notify(
            f"Pulled {name} into the builder ({len(stack.layers)} layers); i sets the input shape"
        )

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        # One place for failures of our own workers: say so, keep the app up.
        if event.state == WorkerState.ERROR and event.worker.error is not None:
            error = event.worker.error
            self.notify(
                f"{event.worker.name} failed: {type(error).__name__}: {error}",
                severity="error",
                timeout=15,
            )
