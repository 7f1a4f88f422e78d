"""GlobalAvgPool2d: one number per channel, the mean over the whole image."""

from __future__ import annotations

import numpy as np

from .base import Layer


class GlobalAvgPool2d(Layer):
    """Average each channel over all of H and W: (N, C, H, W) -> (N, C).

    The head of ResNet-style nets: it replaces Flatten + a large Linear and accepts any image
    size. torch equivalent: ``nn.AdaptiveAvgPool2d(1)`` followed by ``nn.Flatten()``.

    Forward ``y[n, c] = sum_{h, w} x[n, c, h, w] / (H * W)``; backward spreads each ``dy[n, c]``
    evenly: ``dx[n, c, h, w] = dy[n, c] / (H * W)``.
    """

    def forward(self, x):
        self._check_input(x, 4, "(N, C, H, W)")
        self._cache = x.shape
        return x.mean(axis=(2, 3))  # (N, C)

    def backward(self, dy):
        x_shape = self._saved()
        self._check_grad(dy, x_shape[:2])
        dx = np.empty(x_shape, dtype=dy.dtype)
        dx[...] = (dy / (x_shape[2] * x_shape[3]))[:, :, None, None]  # (N, C, 1, 1) -> (N, C, H, W)
        return dx
