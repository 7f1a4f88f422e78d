"""Small synthetic image tasks that need no files: learnable in seconds, for examples and tests."""

from __future__ import annotations

import numpy as np

from ..init import as_generator

BAR_CLASSES = ("horizontal", "vertical", "diagonal", "anti-diagonal")


def make_bars(n: int, size: int = 16, noise: float = 0.1, length: int | None = None, rng=None):
    """Images of one short bar each, labelled by the bar's orientation.

    The bar (``length`` pixels, default ``size // 2``) sits at a random position; Gaussian pixel
    noise is added. A small CNN separates the four orientations almost perfectly, which makes
    this a quick end-to-end check that a model really learns.

    Parameters
    ----------
    n : int
        Number of images.
    size : int
        Height and width of each image.
    noise : float
        Standard deviation of the added noise.
    length : int, optional
        Bar length in pixels.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    x : ndarray, shape (n, 1, size, size), float32, values clipped to [0, 1]
    y : ndarray, shape (n,), int64 in ``[0, 4)``, see ``BAR_CLASSES``
    """
    if n < 1 or size < 4:
        raise ValueError(f"make_bars: need n >= 1 and size >= 4, got n={n}, size={size}")
    rng = as_generator(rng)
    length = size // 2 if length is None else length
    y = rng.integers(0, len(BAR_CLASSES), size=n)
    steps = np.arange(length)
    # Direction of each bar, per class: (row step, column step).
    directions = np.array([(0, 1), (1, 0), (1, 1), (1, -1)])[y]  # (n, 2)
    # Start so that the whole bar fits: a step of +1 needs room after it, -1 room before it.
    low = np.where(directions == -1, length - 1, 0)  # (n, 2)
    high = np.where(directions == 1, size - length + 1, size)  # (n, 2), exclusive
    row0, col0 = rng.integers(low, high).T  # (n,), (n,)
    rows = row0[:, None] + directions[:, :1] * steps  # (n, length)
    cols = col0[:, None] + directions[:, 1:] * steps  # (n, length)
    x = rng.normal(0.0, noise, size=(n, size, size))
    x[np.arange(n)[:, None], rows, cols] += 1.0
    return np.clip(x, 0, 1).astype(np.float32)[:, None], y.astype(np.int64)  # (n, 1, size, size)
