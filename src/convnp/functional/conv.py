"""2-D convolution (cross-correlation, as torch.nn.Conv2d): forward and backward, the textbook way.

Forward, for output channel o at position (i, j)::

    y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] * x_pad[n, c, i*SH + p, j*SW + q]

With ``col = im2col(x_pad)`` (N*OH*OW, C*KH*KW), one row per window, and ``W_col`` the
weights as (O, C*KH*KW), this is one matrix product: ``Y = col @ W_col.T + b``. The backward
pass differentiates that product::

    dW_col = dY.T @ col        db = sum over rows of dY        dcol = dY @ W_col

and ``dx = col2im(dcol)`` folds each window's gradient back onto the image, adding where
windows overlap. :func:`conv2d_forward_naive` / :func:`conv2d_backward_naive` are the same
sums as loops, one output at a time. The engine's twins, with the same numbers:
:func:`convnp.fast.conv2d_forward` / :func:`convnp.fast.conv2d_backward`.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ._args import output_hw, padding_amounts, pair
from .im2col import col2im, im2col, pad2d


class ConvCache(NamedTuple):
    """What :func:`conv2d_backward` needs from the forward pass."""

    x_shape: tuple  # (N, C, H, W)
    col: np.ndarray  # im2col of the padded input, (N*OH*OW, C*KH*KW)
    weight: np.ndarray  # (O, C, KH, KW)
    stride: tuple  # (SH, SW)
    pads: tuple  # (top, bottom, left, right)
    has_bias: bool


def conv_geometry(x_shape, weight_shape, stride, padding, who="conv2d"):
    """Validate shapes and return ``(kernel, stride, pads, out_hw)`` for a convolution."""
    kernel = tuple(weight_shape[2:])
    stride = pair(stride, "stride")
    pads = padding_amounts(padding, kernel, stride)
    out_hw = output_hw(x_shape[2:], kernel, stride, pads, who)
    return kernel, stride, pads, out_hw


def conv2d_forward(x, weight, bias=None, stride=1, padding=0):
    """Convolve a batch of images with a bank of filters.

    The engine's twin, with the same numbers: :func:`convnp.fast.conv2d_forward`.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    weight : ndarray, shape (O, C, KH, KW)
    bias : ndarray, shape (O,), or None
    stride : int or (int, int)
    padding : int, (int, int), 'valid' or 'same'

    Returns
    -------
    y : ndarray, shape (N, O, OH, OW)
    cache : ConvCache
        Pass to :func:`conv2d_backward`.
    """
    (kh, kw), stride, pads, (oh, ow) = conv_geometry(x.shape, weight.shape, stride, padding)
    col = im2col(pad2d(x, pads), kh, kw, stride)  # (N*OH*OW, C*KH*KW)
    weight_col = weight.reshape(weight.shape[0], -1)  # (O, C*KH*KW)
    y = col @ weight_col.T  # (N*OH*OW, O)
    if bias is not None:
        y += bias
    y = y.reshape(x.shape[0], oh, ow, -1).transpose(0, 3, 1, 2)  # (N, O, OH, OW)
    return y, ConvCache(x.shape, col, weight, stride, pads, bias is not None)


def conv2d_backward(dy, cache: ConvCache):
    """Gradients of :func:`conv2d_forward`.

    The engine's twin, with the same numbers: :func:`convnp.fast.conv2d_backward`.

    Parameters
    ----------
    dy : ndarray, shape (N, O, OH, OW)
        d loss / d y.
    cache : ConvCache
        From :func:`conv2d_forward`.

    Returns
    -------
    dx : ndarray (N, C, H, W)
    dweight : ndarray (O, C, KH, KW)
    dbias : ndarray (O,) or None
    """
    n, c, h, w = cache.x_shape
    out_channels, _, kh, kw = cache.weight.shape
    top, bottom, left, right = cache.pads
    dy_2d = dy.transpose(0, 2, 3, 1).reshape(-1, out_channels)  # (N*OH*OW, O)
    dweight = (dy_2d.T @ cache.col).reshape(cache.weight.shape)  # (O, C, KH, KW)
    dbias = dy_2d.sum(axis=0) if cache.has_bias else None  # (O,)
    dcol = dy_2d @ cache.weight.reshape(out_channels, -1)  # (N*OH*OW, C*KH*KW)
    padded_shape = (n, c, h + top + bottom, w + left + right)
    dx_padded = col2im(dcol, padded_shape, kh, kw, cache.stride)  # (N, C, Hp, Wp)
    return dx_padded[:, :, top:top + h, left:left + w], dweight, dbias


def conv2d_forward_naive(x, weight, bias=None, stride=1, padding=0):
    """Loop version of :func:`conv2d_forward`: one dot product per output element (test oracle)."""
    (kh, kw), (sh, sw), pads, (oh, ow) = conv_geometry(x.shape, weight.shape, stride, padding)
    x_padded = np.pad(x, ((0, 0), (0, 0), pads[:2], pads[2:]))
    n, out_channels = x.shape[0], weight.shape[0]
    y = np.zeros((n, out_channels, oh, ow), dtype=np.result_type(x, weight))
    for b in range(n):
        for o in range(out_channels):
            for i in range(oh):
                for j in range(ow):
                    window = x_padded[b, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    y[b, o, i, j] = np.sum(window * weight[o]) + (0 if bias is None else bias[o])
    return y


def conv2d_backward_naive(dy, x, weight, stride=1, padding=0, has_bias=True):
    """Loop version of :func:`conv2d_backward` (test oracle and the explanations' reference).

    Each output gradient ``dy[n, o, i, j]`` flows back along the same multiply it came from:
    to the weights as ``dy * window`` and to the input window as ``dy * w[o]``.
    """
    (kh, kw), (sh, sw), pads, (oh, ow) = conv_geometry(x.shape, weight.shape, stride, padding)
    x_padded = np.pad(x, ((0, 0), (0, 0), pads[:2], pads[2:]))
    dx_padded = np.zeros_like(x_padded)
    dweight = np.zeros_like(weight)
    for b in range(dy.shape[0]):
        for o in range(dy.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    rows, cols = slice(i * sh, i * sh + kh), slice(j * sw, j * sw + kw)
                    dweight[o] += dy[b, o, i, j] * x_padded[b, :, rows, cols]
                    dx_padded[b, :, rows, cols] += dy[b, o, i, j] * weight[o]
    h, w = x.shape[2:]
    dx = dx_padded[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w]
    dbias = dy.sum(axis=(0, 2, 3)) if has_bias else None
    return dx, dweight, dbias
