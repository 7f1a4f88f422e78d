"""Window geometry shared by the explanations: padding, output size, where each window sits."""

from __future__ import annotations

import numbers

import numpy as np


def check_int(value, name, minimum) -> int:
    """``value`` as an int >= ``minimum``, or a ValueError naming the option."""
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def output_side(size: int, kernel: int, stride: int, padding: int) -> int:
    """Window positions along one axis, ``(size + 2*padding - kernel) // stride + 1``, or ValueError."""
    if kernel > size + 2 * padding:
        raise ValueError(f"kernel {kernel} is larger than the padded input {size} + 2*{padding} = "
                         f"{size + 2 * padding}; use a smaller --kernel or more --padding")
    return (size + 2 * padding - kernel) // stride + 1


def pad(x: np.ndarray, padding: int, fill=0.0) -> np.ndarray:
    """Pad the two spatial axes of (..., H, W) by ``padding`` on every side with ``fill``."""
    widths = [(0, 0)] * (x.ndim - 2) + [(padding, padding)] * 2
    return np.pad(x, widths, constant_values=fill)


def window_origin(step: int, out_width: int, stride: int) -> tuple[int, int, int, int]:
    """Output position ``(i, j)`` of row-major ``step`` and its window's top-left ``(i*s, j*s)``."""
    i, j = divmod(step, out_width)
    return i, j, i * stride, j * stride


def mask_until(step: int, shape) -> np.ndarray:
    """Boolean (OH, OW) mask of the output positions 0..step in row-major order."""
    mask = np.zeros(int(np.prod(shape)), dtype=bool)
    mask[:step + 1] = True
    return mask.reshape(shape)


def so_far(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``values`` where ``mask`` (broadcast over leading axes) holds, NaN elsewhere (float64)."""
    return np.where(mask, values, np.nan)
