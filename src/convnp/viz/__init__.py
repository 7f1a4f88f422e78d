"""Pictures computed from convnp's own numbers (needs the ``viz`` extra: matplotlib, Pillow).

Importing this module works without matplotlib; each plotting call then raises an ImportError
that names the extra to install. Every function takes an optional ``path=`` to write a PNG and
returns the matplotlib Figure (built with an Agg canvas, never pyplot).
"""

from ._figure import VIZ_HINT, available
from .plots import confusion_matrix, plot_confusion_matrix, plot_history
from .predictions import plot_misclassified
from .weights import find_conv, plot_feature_maps, plot_kernels

__all__ = [
    "plot_history",
    "plot_confusion_matrix",
    "confusion_matrix",
    "plot_kernels",
    "plot_feature_maps",
    "plot_misclassified",
    "find_conv",
    "available",
    "VIZ_HINT",
]
