"""Weight initialisation matching torch.nn's defaults, and random-generator handling."""

from __future__ import annotations

import math
import numbers

import numpy as np


def as_generator(rng) -> np.random.Generator:
    """Return a NumPy Generator from ``None`` (fresh entropy), an int seed, or a Generator."""
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng must be None, an int seed or a numpy.random.Generator, got {rng!r}")


def kaiming_uniform(shape, fan_in: int, rng: np.random.Generator, dtype) -> np.ndarray:
    """torch's default weight init for Conv2d and Linear: ``kaiming_uniform_(w, a=sqrt(5))``.

    Samples ``U(-bound, bound)`` with ``bound = gain * sqrt(3 / fan_in)`` and the leaky-ReLU gain
    ``sqrt(2 / (1 + a**2)) = sqrt(1/3)``, which simplifies to ``bound = 1 / sqrt(fan_in)``.
    """
    gain = math.sqrt(2.0 / (1 + 5))
    bound = gain * math.sqrt(3.0 / fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


def bias_uniform(size: int, fan_in: int, rng: np.random.Generator, dtype) -> np.ndarray:
    """torch's default bias init: ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return rng.uniform(-bound, bound, size=size).astype(dtype)


def check_float_dtype(dtype, who: str) -> np.dtype:
    """Return ``np.dtype(dtype)`` if it is a floating type, else raise a TypeError naming ``who``."""
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"{who}: dtype must be a floating type such as float32 or float64, got {dtype}")
    return dtype
