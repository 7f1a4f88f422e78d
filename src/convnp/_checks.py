"""Argument checks shared by layers, models and the CLI, with messages that name the argument."""

from __future__ import annotations

import numbers


def positive_int(value, name: str, who: str) -> int:
    """``value`` as an int if it is a positive integer (not a bool); else a ValueError that says
    ``who`` took it, which argument it was, and what was given."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{who}: {name} must be a positive int, got {value!r}")
    return int(value)
