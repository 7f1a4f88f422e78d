"""Max and average pooling over (KH, KW) windows: forward and backward, the textbook way.

Both unfold the windows with :func:`~convnp.functional.im2col`, so each window's KH*KW elements
sit side by side, one row per (image, output position, channel):

Max pooling: ``y = max over the window``; ``argmax`` remembers which element it was, and
backward sends ``dy`` to that element only. ``argmax`` takes the *first* maximum in row-major
window order on ties (torch's rule; real images are full of exact ties such as zeros). Padding
is -inf, so it is never chosen.

Average pooling: ``y = sum over the window / (KH*KW)`` with zero padding counted in the mean
(torch's ``count_include_pad=True``); every element of a window receives ``dy / (KH*KW)``.

``col2im`` folds the window gradients back, adding where windows overlap. The loop versions
:func:`pool2d_naive` / :func:`pool2d_backward_naive` are the oracle; the engine's twins are
:func:`convnp.fast.max_pool2d_forward` and friends.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._args import output_hw, padding_amounts, pair
from .im2col import col2im, im2col, pad2d


class PoolCache(NamedTuple):
    """What the pooling backward passes need from the forward pass."""

    x_shape: tuple  # (N, C, H, W)
    kernel: tuple  # (KH, KW)
    stride: tuple  # (SH, SW)
    pads: tuple  # (top, bottom, left, right)
    out_hw: tuple  # (OH, OW)
    argmax: np.ndarray | None = None  # max pooling: (N*OH*OW, C), the winner's index in its window


def pool_geometry(x_shape, kernel_size, stride, padding, who="pool2d"):
    """Validate pooling arguments and return ``(kernel, stride, pads, out_hw)``."""
    kernel = pair(kernel_size, "kernel_size")
    stride = kernel if stride is None else pair(stride, "stride")
    pads = padding_amounts(padding, kernel, stride)
    if pads[0] > kernel[0] // 2 or pads[2] > kernel[1] // 2:
        raise ValueError(f"{who}: padding {pads[0], pads[2]} must be at most half the kernel size "
                         f"{kernel} (as in torch)")
    return kernel, stride, pads, output_hw(x_shape[2:], kernel, stride, pads, who)


def _windows(x, kernel, stride, pads, fill):
    """The pooling windows of ``x`` as (N*OH*OW, C, KH*KW): one row of elements per window."""
    n, c = x.shape[:2]
    col = im2col(pad2d(x, pads, fill), kernel[0], kernel[1], stride)  # (N*OH*OW, C*KH*KW)
    return col.reshape(col.shape[0], c, kernel[0] * kernel[1])  # (N*OH*OW, C, KH*KW)


def _to_nchw(rows, n, out_hw):
    """(N*OH*OW, C) rows back to an (N, C, OH, OW) array."""
    return rows.reshape(n, *out_hw, -1).transpose(0, 3, 1, 2)  # (N, C, OH, OW)


def _fold(dwindows, cache: PoolCache):
    """Window gradients (N*OH*OW, C, KH*KW) folded back onto the (N, C, H, W) input."""
    n, c, h, w = cache.x_shape
    top, bottom, left, right = cache.pads
    dcol = dwindows.reshape(dwindows.shape[0], -1)  # (N*OH*OW, C*KH*KW)
    dx_padded = col2im(dcol, (n, c, h + top + bottom, w + left + right), *cache.kernel, cache.stride)
    return dx_padded[:, :, top:top + h, left:left + w]  # (N, C, H, W)


def max_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Maximum over each window.

    The engine's twin, with the same numbers: :func:`convnp.fast.max_pool2d_forward`.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel_size : int or (int, int)
    stride : int, (int, int) or None (= kernel_size)
    padding : int or (int, int), implicit -inf padding

    Returns
    -------
    y : ndarray, shape (N, C, OH, OW)
    cache : PoolCache, with ``argmax``
    """
    kernel, stride, pads, out_hw = pool_geometry(x.shape, kernel_size, stride, padding, "max_pool2d")
    windows = _windows(x, kernel, stride, pads, -np.inf)  # (N*OH*OW, C, KH*KW)
    argmax = windows.argmax(axis=2)  # (N*OH*OW, C), the first maximum on ties
    y = np.take_along_axis(windows, argmax[..., None], axis=2)[..., 0]  # (N*OH*OW, C)
    return _to_nchw(y, x.shape[0], out_hw), PoolCache(x.shape, kernel, stride, pads, out_hw, argmax)


def max_pool2d_backward(dy, cache: PoolCache):
    """Route each ``dy`` element to the input element that was its window's (first) maximum.

    The engine's twin, with the same numbers: :func:`convnp.fast.max_pool2d_backward`.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W); overlapping windows add up.
    """
    dy_rows = dy.transpose(0, 2, 3, 1).reshape(-1, cache.x_shape[1])  # (N*OH*OW, C)
    dwindows = np.zeros((*dy_rows.shape, cache.kernel[0] * cache.kernel[1]), dtype=dy.dtype)
    np.put_along_axis(dwindows, cache.argmax[..., None], dy_rows[..., None], axis=2)
    return _fold(dwindows, cache)


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Mean over each window, zero padding included in the count.

    The engine's twin, with the same numbers: :func:`convnp.fast.avg_pool2d_forward`.

    Parameters and returns as :func:`max_pool2d_forward` (the cache has no argmax).
    """
    kernel, stride, pads, out_hw = pool_geometry(x.shape, kernel_size, stride, padding, "avg_pool2d")
    y = _windows(x, kernel, stride, pads, 0.0).mean(axis=2)  # (N*OH*OW, C)
    return _to_nchw(y, x.shape[0], out_hw), PoolCache(x.shape, kernel, stride, pads, out_hw)


def avg_pool2d_backward(dy, cache: PoolCache):
    """Share each ``dy`` element equally among the KH*KW elements of its window.

    The engine's twin, with the same numbers: :func:`convnp.fast.avg_pool2d_backward`.

    """
    size = cache.kernel[0] * cache.kernel[1]
    dy_rows = dy.transpose(0, 2, 3, 1).reshape(-1, cache.x_shape[1])  # (N*OH*OW, C)
    dwindows = np.repeat(dy_rows[..., None] / size, size, axis=2)  # (N*OH*OW, C, KH*KW)
    return _fold(dwindows, cache)


def _naive_windows(x, kernel_size, stride, padding, fill):
    """Yield ``(n, c, i, j, rows, cols, padded)`` for every window (helper of the naive oracles)."""
    (kh, kw), (sh, sw), pads, (oh, ow) = pool_geometry(x.shape, kernel_size, stride, padding)
    padded = np.pad(x, ((0, 0), (0, 0), pads[:2], pads[2:]), constant_values=fill)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    yield n, c, i, j, slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw), padded


def pool2d_naive(x, kernel_size, stride=None, padding=0, mode="max"):
    """Loop version of max/avg pooling forward (test oracle)."""
    kernel, stride, pads, out_hw = pool_geometry(x.shape, kernel_size, stride, padding)
    y = np.zeros(x.shape[:2] + out_hw, dtype=x.dtype)
    fill = -np.inf if mode == "max" else 0.0
    for n, c, i, j, rows, cols, padded in _naive_windows(x, kernel, stride, padding, fill):
        window = padded[n, c, rows, cols]
        y[n, c, i, j] = window.max() if mode == "max" else window.mean()
    return y


def pool2d_backward_naive(dy, x, kernel_size, stride=None, padding=0, mode="max"):
    """Loop version of max/avg pooling backward (test oracle): first maximum wins on ties."""
    kernel, stride, pads, _ = pool_geometry(x.shape, kernel_size, stride, padding)
    fill = -np.inf if mode == "max" else 0.0
    dx_padded = np.zeros((x.shape[0], x.shape[1], x.shape[2] + pads[0] + pads[1],
                          x.shape[3] + pads[2] + pads[3]), dtype=dy.dtype)
    for n, c, i, j, rows, cols, padded in _naive_windows(x, kernel, stride, padding, fill):
        if mode == "max":
            p, q = np.unravel_index(np.argmax(padded[n, c, rows, cols]), kernel)
            dx_padded[n, c, rows.start + p, cols.start + q] += dy[n, c, i, j]
        else:
            dx_padded[n, c, rows, cols] += dy[n, c, i, j] / (kernel[0] * kernel[1])
    h, w = x.shape[2:]
    return dx_padded[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w]
