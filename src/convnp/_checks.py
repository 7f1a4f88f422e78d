"""Argument checks shared by layers, models and the CLI, with messages that name the argument."""

from __future__ import annotations

import numbers
import os


def positive_int(value, name: str, who: str) -> int:
    """``value`` as an int if it is a positive integer (not a bool); else a ValueError that says
    ``who`` took it, which argument it was, and what was given."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{who}: {name} must be a positive int, got {value!r}")
    return int(value)


def environment_count(variable: str, name: str, default: int) -> int:
    """The positive int held by the environment variable ``variable`` (``default`` where it is
    unset or blank); else a ValueError that names the variable, ``name`` and what it held."""
    text = os.environ.get(variable, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"${variable}: {name} must be a positive int, got {text!r}") from None
    return positive_int(value, name, f"${variable}")
