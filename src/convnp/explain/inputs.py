"""Small, exactly printable inputs for the explanations: a crop of a real MNIST digit, or random.

Values are rounded (pixels to 2 decimals, weights and gradients to 1) so that every number drawn
with two decimals is the exact number the computation used. Everything is float64.
"""

from __future__ import annotations

import functools

import numpy as np


@functools.lru_cache(maxsize=1)
def _mnist_test_images() -> np.ndarray:
    """The 2,000 test images of the embedded mnist-sample, (N, 28, 28) float32 in [0, 1]."""
    from .. import datasets

    _, (x_test, _) = datasets.load("mnist-sample")
    return x_test[:, 0]


def busiest_crop(image: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` x ``size`` crop of ``image`` (H, W) with the largest pixel variance (first on ties)."""
    windows = np.lib.stride_tricks.sliding_window_view(image, (size, size))  # (H-s+1, W-s+1, s, s)
    spread = windows.var(axis=(2, 3))
    top, left = np.unravel_index(np.argmax(spread), spread.shape)
    return image[top:top + size, left:left + size]


def mnist_crop(size: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    """Crops of real MNIST digits: one digit per channel, chosen by ``seed``.

    Returns
    -------
    ndarray, shape (1, channels, size, size), float64 in [0, 1] with 2 decimals.
    """
    if not 1 <= size <= 28:
        raise ValueError(f"an MNIST crop must be 1 to 28 pixels wide, got size {size} "
                         f"(use random inputs for other sizes)")
    images = _mnist_test_images()
    picks = np.random.default_rng(seed).choice(len(images), size=channels, replace=False)
    crops = np.stack([busiest_crop(images[index].astype(np.float64), size) for index in picks])
    return np.round(crops, 2)[None]  # (1, C, size, size)


def random_values(shape, seed: int, scale: int = 10) -> np.ndarray:
    """Random multiples of ``1/scale`` in [-0.9, 0.9] (``scale=10``), float64, from ``seed``."""
    rng = np.random.default_rng(seed)
    return rng.integers(-9, 10, size=shape) / scale


def example_input(size: int, channels: int = 1, seed: int = 0, random: bool = False) -> np.ndarray:
    """The input an explanation shows: an MNIST crop by default, random values with ``random``.

    Returns
    -------
    ndarray, shape (1, channels, size, size), float64.
    """
    if size < 1 or channels < 1:
        raise ValueError(f"size and channels must be positive, got size {size}, channels {channels}")
    if random:
        return random_values((1, channels, size, size), seed)
    return mnist_crop(size, channels, seed)


def example_kernel(out_channels: int, in_channels: int, kernel: int, seed: int = 0) -> np.ndarray:
    """Random weights (O, C, K, K), multiples of 0.1, from ``seed`` (independent of the input's)."""
    return random_values((out_channels, in_channels, kernel, kernel), seed + 1000)


def example_gradient(shape, seed: int = 0) -> np.ndarray:
    """A random upstream gradient d loss / d y of ``shape``, multiples of 0.1, from ``seed``."""
    return random_values(shape, seed + 2000)


def frame_positions(total: int, cap: int) -> list[int]:
    """Which of ``total`` steps get a frame: all when ``total <= cap``, else ``cap`` evenly spread
    steps that always include the last (the finished result) and, for ``cap >= 2``, the first.
    The count is ``min(total, cap)``.
    """
    if total <= cap:
        return list(range(total))
    if cap == 1:
        return [total - 1]
    return [int(np.floor(k + 0.5)) for k in np.linspace(0, total - 1, cap)]  # distinct: step > 1
