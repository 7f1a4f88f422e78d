"""2-D convolution (cross-correlation, as torch.nn.Conv2d): forward and backward.

Forward, for output channel o at position (i, j)::

    y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] * x_pad[n, c, i*SH + p, j*SW + q]

As matrices, with ``X_col`` the (N*OH*OW, K) window matrix (K = C*KH*KW) and ``W2`` the weights
as (O, K): ``Y = X_col @ W2.T + b``. Backward follows from the matrix form::

    dW2 = dY.T @ X_col        db = sum over rows of dY        dX_col = dY @ W2

and ``dx`` is ``dX_col`` folded back onto the image (the adjoint of the window unfolding).
A stride-1 convolution whose padding keeps ``dy`` near the input's size takes a faster route:
its backward pass is itself a convolution of ``dy`` (:func:`conv_backward.backward_full_correlation`).

Two layouts of ``X_col`` are used, chosen by speed (measurements in PERF_NOTES.md):

* many input channels: rows built from channels-last memory, columns ordered (kh, kw, c), so
  every window row is a run of C contiguous numbers;
* few input channels (first layers, C < 4): the transposed matrix (C*KH*KW, N*OH*OW), built
  with one strided copy per kernel offset; BLAS multiplies by its transpose for free. It gets
  one extra row of ones, so the bias rides along as one more weight column: the GEMM adds it
  and ``dW``'s last column is ``db`` (cheaper than separate passes over the output).

Either matrix is KH*KW times larger than the image. Up to ``windows.KEEP_COLUMNS_BYTES`` it is
built whole and kept for ``dW``; beyond that it is built in chunks of images of at most
``windows.COLUMN_CHUNK_BYTES`` — small enough that a chunk is still in cache when its GEMM
reads it (2x faster than 16 MiB chunks on cifar-small) — and backward builds it again the same
way. The cache holds the *unpadded* input, which the previous layer keeps alive anyway.

The public :func:`convnp.functional.im2col` gives the textbook (c, kh, kw) row layout.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import buffers
from ._args import output_hw, padding_amounts, pair
from .activations import relu_inplace
from .conv_backward import (
    FEW_CHANNELS,
    backward_full_correlation,
    full_correlation_pays,
    input_grad,
    weight_rows,
)
from .windows import column_chunks, pad_channels_last, transposed_chunks


@dataclass
class ConvCache:
    """What :func:`conv2d_backward` needs from the forward pass."""

    source: np.ndarray  # the input x (N, C, H, W)
    transposed: bool  # few channels: window matrix (C*KH*KW + 1, N*OH*OW), else (N*OH*OW, KH*KW*C)
    columns: np.ndarray | None  # the whole window matrix, kept only when it is small
    weight: np.ndarray  # (O, C, KH, KW)
    x_shape: tuple
    stride: tuple
    pads: tuple  # (top, bottom, left, right)
    out_hw: tuple
    has_bias: bool

    @property
    def padded_shape(self):  # channels-last (N, Hp, Wp, C)
        n, c, h, w = self.x_shape
        return (n, h + self.pads[0] + self.pads[1], w + self.pads[2] + self.pads[3], c)


def conv_geometry(x_shape, weight_shape, stride, padding, who="conv2d"):
    """Validate shapes and return ``(kernel, stride, pads, out_hw)`` for a convolution."""
    kernel = tuple(weight_shape[2:])
    stride = pair(stride, "stride")
    pads = padding_amounts(padding, kernel, stride)
    out_hw = output_hw(x_shape[2:], kernel, stride, pads, who)
    return kernel, stride, pads, out_hw


def conv2d_forward(x, weight, bias=None, stride=1, padding=0, *, relu=False):
    """Convolve a batch of images with a bank of filters (and optionally apply a ReLU).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    weight : ndarray, shape (O, C, KH, KW)
    bias : ndarray, shape (O,), or None
    stride : int or (int, int)
    padding : int, (int, int), 'valid' or 'same'
    relu : bool
        Also take ``max(y, 0)``, on each piece of the output while it is still in cache: the
        same numbers as a separate ReLU, without its pass over the whole output in memory.

    Returns
    -------
    y : ndarray, shape (N, O, OH, OW)
        An NCHW view of channels-last memory (the layout the next kernel wants).
    cache : ConvCache
        Pass to :func:`conv2d_backward`.
    """
    kernel, stride, pads, (oh, ow) = conv_geometry(x.shape, weight.shape, stride, padding)
    n, c = x.shape[:2]
    out_channels = weight.shape[0]
    transposed = c < FEW_CHANNELS
    y_2d = buffers.empty((n * oh * ow, out_channels), np.result_type(x, weight))
    built = 0  # one chunk alive at a time: a list of them would hold the whole window matrix
    if transposed:
        weight_bias = _weight_with_bias(weight, bias)  # (O, C*KH*KW + 1)
        for rows, chunk in transposed_chunks(x, kernel, stride, pads, (oh, ow)):
            np.matmul(chunk.T, weight_bias.T, out=y_2d[rows])  # (rows, O), bias included
            if relu:
                relu_inplace(y_2d[rows])
            built += 1
    else:
        weights = weight_rows(weight)  # (O, KH*KW*C)
        for rows, chunk in column_chunks(pad_channels_last(x, pads), kernel, stride, (oh, ow)):
            np.matmul(chunk, weights.T, out=y_2d[rows])  # (rows, O)
            if bias is not None:
                y_2d[rows] += bias  # while this piece of the output is still in cache
            if relu:
                relu_inplace(y_2d[rows])
            built += 1
    y = y_2d.reshape(n, oh, ow, out_channels).transpose(0, 3, 1, 2)  # (N, O, OH, OW) view
    cache = ConvCache(x, transposed, None, weight, x.shape, stride, pads, (oh, ow), bias is not None)
    if built == 1 and not full_correlation_pays(cache):  # small: kept, backward needs no rebuild
        cache.columns = chunk
    return y, cache


def _weight_with_bias(weight, bias):
    """Weights as (O, C*KH*KW + 1): the last column is the bias (zeros without one)."""
    out_channels = weight.shape[0]
    extra = np.zeros((out_channels, 1), weight.dtype) if bias is None else bias.reshape(-1, 1)
    return np.concatenate([weight.reshape(out_channels, -1), extra], axis=1)


def conv2d_backward(dy, cache: ConvCache, need_input_grad: bool = True):
    """Gradients of a convolution.

    Parameters
    ----------
    dy : ndarray, shape (N, O, OH, OW)
        d loss / d y.
    cache : ConvCache
        From :func:`conv2d_forward`.
    need_input_grad : bool
        False skips ``dx`` (the first layer of a network never needs it).

    Returns
    -------
    dx : ndarray (N, C, H, W) or None
    dweight : ndarray (O, C, KH, KW)
    dbias : ndarray (O,) or None
    """
    out_channels, c, kh, kw = cache.weight.shape
    dy_2d = dy.transpose(0, 2, 3, 1).reshape(-1, out_channels)  # (N*OH*OW, O), free if channels-last
    dx = dbias = None
    if cache.transposed:
        dweight_bias = np.zeros((out_channels, c * kh * kw + 1), dtype=dy_2d.dtype)  # last column: db
        for rows, columns in _kept_or_rebuilt(cache):
            dweight_bias += dy_2d[rows].T @ columns.T
        dweight = dweight_bias[:, :-1].reshape(cache.weight.shape)  # (O, C, KH, KW)
        if cache.has_bias:
            dbias = np.ascontiguousarray(dweight_bias[:, -1])
    elif full_correlation_pays(cache):
        dx, dweight = backward_full_correlation(dy_2d, cache, need_input_grad)
    else:
        dweight_rows = np.zeros((out_channels, kh * kw * c), dtype=dy_2d.dtype)  # (O, KH*KW*C)
        for rows, columns in _kept_or_rebuilt(cache):
            dweight_rows += dy_2d[rows].T @ columns
        dweight = dweight_rows.reshape(out_channels, kh, kw, c).transpose(0, 3, 1, 2)
    if cache.has_bias and not cache.transposed:  # a matrix-vector product: faster than .sum(axis=0)
        dbias = np.ones(dy_2d.shape[0], dtype=dy_2d.dtype) @ dy_2d
    if need_input_grad and dx is None:
        dx = input_grad(dy_2d, cache)
    return dx, np.ascontiguousarray(dweight), dbias


def _kept_or_rebuilt(cache: ConvCache):
    """The forward pass's window matrix as ``(row slice, matrix)`` chunks: kept, or built again."""
    if cache.columns is not None:
        return [(slice(None), cache.columns)]
    kernel = cache.weight.shape[2:]
    if cache.transposed:
        return transposed_chunks(cache.source, kernel, cache.stride, cache.pads, cache.out_hw)
    return column_chunks(pad_channels_last(cache.source, cache.pads), kernel, cache.stride, cache.out_hw)


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
