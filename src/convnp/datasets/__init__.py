"""Datasets: arrays (N, C, H, W) float32 in [0, 1] and int64 labels.

``load(name)`` reads MNIST, Fashion-MNIST and CIFAR-10 from their original distribution files in
``<root>/<name>/`` (root: argument, ``$CONVNP_DATA``, or the user cache), verifying them by
SHA-256; ``"mnist-sample"`` is embedded in the package and works offline. ``load_csv`` reads
MNIST-as-CSV style files; ``make_bars`` makes a synthetic task that needs no files;
``transforms`` holds batch augmentation (RandomCrop, RandomHorizontalFlip) and Normalize.
"""

from . import transforms
from .catalog import DatasetInfo, info, names
from .csv_format import load_csv
from .errors import ChecksumWarning, DatasetError, DatasetFormatError, DatasetNotFoundError, DownloadError
from .loader import DatasetStatus, load, resolve_root, status
from .synthetic import BAR_CLASSES, make_bars

__all__ = [
    "load", "load_csv", "names", "info", "status", "resolve_root", "DatasetInfo", "DatasetStatus",
    "DatasetError", "DatasetNotFoundError", "DatasetFormatError", "DownloadError", "ChecksumWarning",
    "make_bars", "BAR_CLASSES", "transforms",
]
