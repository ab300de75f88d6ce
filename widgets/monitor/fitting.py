"""The monitor's one-key fix (``f``) for a builder stack that does not match the data.

When ``s`` fails with the builder's stack as the model on a shape or output mismatch,
the message offers ``f``: the data is loaded off the UI thread, the engine's
:func:`~tui.core.train.fit.fit_for_run` fits the stack (input shape, last Linear's
``out_features``, through the builder's own StackEditor), and :class:`FitStack` carries
the fitted stack to the app, which gives it to the builder as one undoable edit. The
user then presses ``s`` again.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import work
from textual.message import Message

from tui.core.train.settings import BUILDER, PrepareError, RunSettings

if TYPE_CHECKING:
    from tui.core.builder.spec import LayerStack

__all__ = ["FitOffer", "FitStack", "fit_hint"]

# Errors a fitted stack cannot cure: a bad setting, unreadable data, a missing model.
_NOT_A_MISMATCH = ("data", "device", "lr", "batch", "epochs", "loss:", "optimizer:", "model:")


def fit_hint(settings: RunSettings | None, error: str) -> bool:
    """Whether ``f`` may cure ``error``, from a run of ``settings``."""
    return (
        settings is not None
        and settings.model == BUILDER
        and not error.lower().startswith(_NOT_A_MISMATCH)
        and "workspace" not in error
    )


@dataclass
class FitStack(Message):
    """The builder's stack, fitted to the data: the app hands it to the builder."""

    stack: LayerStack
    changes: tuple[str, ...]


class FitOffer:
    """Mixin for the monitor pane: ``f`` fits the builder's stack after ``s`` failed."""

    fit_settings: RunSettings | None = None  # the failed run's settings, while f applies

    def action_fit(self) -> None:
        settings = self.fit_settings
        stack = self.stack_source() if settings is not None else None  # type: ignore[attr-defined]
        if settings is None or stack is None:
            self.notify("f fits the builder's stack to the data after s failed on a mismatch.")  # type: ignore[attr-defined]
            return
        self._message("fitting the builder's stack to the data…")  # type: ignore[attr-defined]
        self._fit(settings, stack)

    @work(thread=True, exit_on_error=False, group="train-fit")
    def _fit(self, settings: RunSettings, stack: LayerStack) -> None:
        from tui.core.train.fit import fit_for_run

        try:
            fit = fit_for_run(settings, stack, self.session.namespace)  # type: ignore[attr-defined]
        except PrepareError as exc:
            self.app.call_from_thread(self._message, exc.text(), True)  # type: ignore[attr-defined]
            return
        self.app.call_from_thread(self._fitted, fit.stack, fit.changes)  # type: ignore[attr-defined]

    def _fitted(self, stack: LayerStack, changes: tuple[str, ...]) -> None:
        self.fit_settings = None
        if not changes:
            self._message(  # type: ignore[attr-defined]
                "the builder's input shape and outputs already match the data: "
                "edit the stack in the builder (F3)",
                True,
            )
            return
        self.post_message(FitStack(stack, changes))  # type: ignore[attr-defined]
        self._message(f"fitted the builder's stack: {', '.join(changes)}; s starts the run")  # type: ignore[attr-defined]
