"""Which implementation the layers run: the textbook (:mod:`convnp.functional`) or the engine
(:mod:`convnp.fast`). Both compute the same numbers; the engine is faster, the textbook is what
a learner reads and steps through.

    cn.set_engine("reference")        # every layer runs the textbook from here on
    with cn.engine("reference"): ...  # only inside the block
    cn.get_engine()                   # "fast" (the default) or "reference"

``CONVNP_ENGINE=reference`` in the environment sets the default when convnp is imported.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

from . import fast, functional

ENGINES = ("fast", "reference")
ENV_VAR = "CONVNP_ENGINE"


def _checked(name, who: str) -> str:
    if name not in ENGINES:
        raise ValueError(f"{who}: the engine must be one of {', '.join(map(repr, ENGINES))}, got {name!r}")
    return name


_current = _checked(os.environ.get(ENV_VAR) or "fast", f"${ENV_VAR}")


def set_engine(name: str) -> None:
    """Run every layer on ``name``: ``"fast"`` (convnp.fast) or ``"reference"`` (the textbook)."""
    global _current
    _current = _checked(name, "set_engine")


def get_engine() -> str:
    """The engine layers run now: ``"fast"`` or ``"reference"``."""
    return _current


@contextmanager
def engine(name: str):
    """Run on ``name`` inside a ``with`` block, then go back to the engine before it."""
    previous = get_engine()
    set_engine(name)
    try:
        yield name
    finally:
        set_engine(previous)


def ops(name: str | None = None):
    """The module whose functions layers call on engine ``name`` (default: the current one):
    :mod:`convnp.fast` or :mod:`convnp.functional`. Layers cache the engine's name, not the
    module, so a model stays copyable."""
    return fast if (name or _current) == "fast" else functional


def release_workspace() -> None:
    """Give back the work arrays the fast engine keeps from one step to the next (``fit`` calls
    it when it returns; the next step simply makes them again)."""
    if _current == "fast":
        fast.workspace.clear()
