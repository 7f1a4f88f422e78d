"""Access to matplotlib without pyplot's global state, and a clear message when it is missing."""

from __future__ import annotations

import importlib.util
import os

VIZ_HINT = "plots need the viz extra: pip install 'convnp[viz]' (matplotlib and Pillow)"


def available() -> bool:
    """True when matplotlib can be imported."""
    return importlib.util.find_spec("matplotlib") is not None


def new_figure(width: float, height: float):
    """A matplotlib Figure with an Agg canvas (no GUI, no pyplot), or ImportError with the hint."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(VIZ_HINT) from None
    figure = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(figure)
    return figure


def save(figure, path) -> str:
    """Save ``figure`` as PNG at ``path`` (directories created); return the path."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, format="png", bbox_inches="tight")
    return path
