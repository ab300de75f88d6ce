"""Handing a trained model to the REPL without overwriting the user's own variables.

A run that ends puts its model into the REPL namespace as ``model``, unless ``model``
holds something else of the user's: then it goes under the first free ``model_2``,
``model_3``, ... and the line that announces it says so. A NaN post-mortem's ``batch``,
``loss`` and ``nan_report`` go in by the same rule (:meth:`ModelHandoff.bind_named`).
A ``model`` that an earlier run put there is the monitor's to replace. A REPL variable
trained in place is bound as ``model`` too when that is free, and otherwise only named
where it already is.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from contextlib import suppress
from typing import Any
from weakref import WeakSet

__all__ = ["ModelHandoff"]

NAME = "model"


class ModelHandoff:
    """Remembers the models it bound (weakly), so it may replace those and only those."""

    def __init__(self) -> None:
        self._ours: WeakSet[Any] = WeakSet()

    def _replaceable(self, value: Any) -> bool:
        try:
            return value in self._ours
        except TypeError:  # an unhashable user object: certainly not one of ours
            return False

    def bind_named(self, namespace: MutableMapping[str, Any], base: str, value: Any) -> str:
        """Put ``value`` under ``base`` (or ``base_2``, ... when ``base`` holds the user's
        own value); returns the name used."""
        name, i = base, 1
        while name in namespace and not self._replaceable(namespace[name]):
            if namespace[name] is value:
                return name
            i += 1
            name = f"{base}_{i}"
        namespace[name] = value
        with suppress(TypeError):
            self._ours.add(value)
        return name

    def bind(self, namespace: MutableMapping[str, Any], model: Any) -> tuple[str, str]:
        """Put ``model`` into ``namespace``; returns the name used and a one-line note."""
        if namespace.get(NAME) is model:
            return NAME, "the trained model is `model` in the REPL"
        held = NAME in namespace and not self._replaceable(namespace[NAME])
        if held:
            for name, value in list(namespace.items()):
                if value is model:  # a REPL variable trained in place: no second name
                    return name, f"the trained model is `{name}` in the REPL (trained in place)"
        name = NAME
        i = 1
        while name in namespace and not self._replaceable(namespace[name]):
            i += 1
            name = f"{NAME}_{i}"
        namespace[name] = model
        # A value that cannot be weakly referenced is simply never replaced later.
        with suppress(TypeError):
            self._ours.add(model)
        if name == NAME:
            return name, "the trained model is `model` in the REPL"
        return name, (
            f"the trained model is `{name}` in the REPL (`model` holds your own value, "
            "left as it is)"
        )
