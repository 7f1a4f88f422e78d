"""Dropout: randomly zero activations while training (Srivastava et al., 2014), torch's inverted form."""

from __future__ import annotations

import numbers

import numpy as np

from ..init import as_generator
from .base import Layer


class Dropout(Layer):
    """Inverted dropout: keep each value with probability ``1 - p`` and scale kept ones by ``1 / (1 - p)``.

    Parameters
    ----------
    p : float in [0, 1], default 0.5
        Probability of zeroing a value. ``p = 1`` zeroes everything (output and gradient), as
        torch does; ``p = 0`` is the identity.
    rng : None, int or numpy.random.Generator
        Source of the masks, kept as ``.rng``: seed it for reproducible training runs (and save
        ``layer.rng.bit_generator.state`` to resume one exactly).

    Shapes: any (N, ...) -> same shape. Training forward: ``y = x * mask`` with
    ``mask = bernoulli(1 - p) / (1 - p)``, one draw per element; backward ``dx = dy * mask`` with
    the same mask. Evaluation mode: ``y = x`` and ``dx = dy`` (no rescaling is needed at test
    time because the training outputs already have the input's expectation).
    """

    def __init__(self, p=0.5, *, rng=None):
        super().__init__()
        if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = float(p)
        self.rng = as_generator(rng)

    def forward(self, x):
        self._check_input(x, None, "(N, ...)")
        if not self.training or self.p == 0:
            self._cache = (None, x.shape)
            return x.copy()
        mask = self.mask_for(x.shape, x.dtype)
        self._cache = (mask, x.shape)
        return x * mask

    def mask_for(self, shape, dtype):
        """A training mask for an input of ``shape``: 0 or ``1 / (1 - p)``, drawn from ``rng``."""
        keep = 1.0 - self.p
        if keep == 0:
            return np.zeros(shape, dtype=dtype)
        dtype = np.dtype(dtype)
        draw_dtype = dtype if dtype in (np.float32, np.float64) else np.float64
        kept = self.rng.random(shape, dtype=draw_dtype) < keep
        return kept.astype(dtype) * dtype.type(1.0 / keep)  # (N, ...), 0 or 1/(1-p)

    def backward(self, dy):
        mask, x_shape = self._saved()
        self._check_grad(dy, x_shape)
        return dy.copy() if mask is None else dy * mask

    def config(self):
        return {"p": self.p}

    def __repr__(self):
        return f"Dropout(p={self.p:g})"
