"""Pictures computed from convnp's own numbers (needs the ``viz`` extra: matplotlib, Pillow).

Importing this module works without matplotlib; each plotting call then raises an ImportError
that names the extra to install.
"""

from ._figure import VIZ_HINT, available
from .plots import confusion_matrix, plot_confusion_matrix, plot_history

__all__ = ["plot_history", "plot_confusion_matrix", "confusion_matrix", "available", "VIZ_HINT"]
