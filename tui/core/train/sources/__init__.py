"""Readers of training runs written by anyone, behind one small interface.

:class:`RunSource` (``name``, ``kind``, ``path``, ``poll()``, ``tags``, ``state``,
``last_update``, ``error``) has three implementations: :class:`DltuiSource` (dltui's
run directories), :class:`TensorBoardSource` (``events.out.tfevents.*``, needs the
optional ``tensorboard`` package) and :class:`LightningSource` (``metrics.csv``).
:func:`discover` / :class:`Discovery` find them under the paths given to ``dltui watch``,
:class:`SourceFollower` polls them all on a worker thread for the monitor;
:mod:`~tui.core.train.sources.tags` has the tag grouping, fuzzy tag match and regex
filter helpers. Nothing here imports torch or textual.
"""

from tui.core.train.sources.base import ACTIVE_WINDOW, RunSource, Scalars, foreign_state
from tui.core.train.sources.discover import Discovery, discover
from tui.core.train.sources.dltui import DltuiSource
from tui.core.train.sources.follow import Batch, RunRow, SourceFollower
from tui.core.train.sources.lightning import LightningSource
from tui.core.train.sources.tags import compile_filter, filter_names, fuzzy_match, tag_groups
from tui.core.train.sources.tensorboard import (
    MISSING_TENSORBOARD,
    TensorBoardMissing,
    TensorBoardSource,
    require_tensorboard,
)

__all__ = [
    "ACTIVE_WINDOW",
    "MISSING_TENSORBOARD",
    "Batch",
    "Discovery",
    "DltuiSource",
    "LightningSource",
    "RunRow",
    "RunSource",
    "Scalars",
    "SourceFollower",
    "TensorBoardMissing",
    "TensorBoardSource",
    "compile_filter",
    "discover",
    "filter_names",
    "foreign_state",
    "fuzzy_match",
    "require_tensorboard",
    "tag_groups",
]
