"""MNIST-layout datasets (MNIST, Fashion-MNIST, the embedded sample): IDX image/label pairs -> arrays."""

from __future__ import annotations

import numpy as np

from .errors import DatasetFormatError
from .idx import parse_idx


def idx_file_names(prefix: str) -> tuple[str, str]:
    """Canonical (images, labels) file names of a split: ``prefix`` is ``"train"`` or ``"t10k"``."""
    return f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"


def parse_split(images_data: bytes, labels_data: bytes, sources: tuple[str, str], count: int,
                image_size: tuple[int, int], num_classes: int):
    """Parse and check one split (images file + labels file).

    Parameters
    ----------
    images_data, labels_data : bytes
        Contents of the IDX files (gzip or raw).
    sources : (str, str)
        Names of the two files, for error messages.
    count : int
        Required number of images and labels.
    image_size : (int, int)
        Required (H, W) of each image.
    num_classes : int
        Labels must lie in ``0 … num_classes - 1``.

    Returns
    -------
    x : ndarray, shape (count, 1, H, W), float32 in [0, 1]
    y : ndarray, shape (count,), int64
    """
    images_source, labels_source = sources
    most = 16 + count * image_size[0] * image_size[1]  # the header, then one byte per pixel
    images = parse_idx(images_data, images_source, ndim=3, max_bytes=most)  # (N, H, W)
    labels = parse_idx(labels_data, labels_source, ndim=1, max_bytes=8 + count)  # (N,)
    if images.dtype != np.uint8 or images.shape != (count, *image_size):
        raise DatasetFormatError(
            f"{images_source}: expected {count} uint8 images of {image_size[0]}x{image_size[1]}, "
            f"found shape {images.shape} of {images.dtype}"
        )
    if labels.dtype != np.uint8 or labels.shape != (count,):
        raise DatasetFormatError(f"{labels_source}: expected {count} uint8 labels, found {labels.shape[0]}")
    if labels.max() >= num_classes:
        raise DatasetFormatError(
            f"{labels_source}: label {labels.max()} is out of range 0-{num_classes - 1}"
        )
    x = np.divide(images[:, None], np.float32(255), dtype=np.float32)  # (N, 1, H, W)
    return x, labels.astype(np.int64)
