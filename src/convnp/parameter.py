"""The trainable array: a value and the gradient of the loss with respect to it."""

from __future__ import annotations

import numpy as np


class Parameter:
    """A trainable array and its gradient.

    Parameters
    ----------
    data : array_like
        Initial value. Kept as given (no dtype change); copied into a new array.
    name : str, optional
        Short name used in error messages and ``state_dict`` keys (``"weight"``, ``"bias"``).

    Attributes
    ----------
    data : ndarray
        Current value; optimizers update it in place.
    grad : ndarray
        d loss / d data, same shape and dtype as ``data``. Zeros until a ``backward`` fills it;
        ``backward`` overwrites it (it does not accumulate).
    """

    def __init__(self, data, name: str | None = None):
        self.data = np.array(data, copy=True)
        if not np.issubdtype(self.data.dtype, np.floating):
            raise TypeError(f"Parameter {name!r}: expected a floating-point array, got {self.data.dtype}")
        self.grad = np.zeros_like(self.data)
        self.name = name

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def zero_grad(self) -> None:
        """Set ``grad`` to zeros in place."""
        self.grad[...] = 0

    def __repr__(self) -> str:
        return f"Parameter(name={self.name!r}, shape={self.shape}, dtype={self.dtype})"
