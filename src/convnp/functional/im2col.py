"""im2col / col2im: unfold image windows into matrix rows, and the adjoint that folds them back.

Layout (as in *Deep Learning from Scratch*): rows are ordered (n, oh, ow), columns (c, kh, kw).
A convolution is then ``im2col(x) @ weight.reshape(C_out, -1).T``.
"""

from __future__ import annotations

import numpy as np

from ._args import output_hw, pair


def _geometry(x_shape, kh, kw, stride, pad, who):
    kernel = pair((kh, kw), "kernel size")
    stride = pair(stride, "stride")
    pad_h, pad_w = (pad, pad) if np.isscalar(pad) else tuple(pad)
    if min(pad_h, pad_w) < 0:
        raise ValueError(f"{who}: padding must be non-negative, got {pad!r}")
    pads = (pad_h, pad_h, pad_w, pad_w)
    out_hw = output_hw(x_shape[2:], kernel, stride, pads, who)
    return kernel, stride, pads, out_hw


def pad2d(x: np.ndarray, pads, fill: float = 0.0) -> np.ndarray:
    """``x`` (N, C, H, W) with ``pads = (top, bottom, left, right)`` rows and columns of ``fill``
    added around every image (0 for convolution and average pooling, -inf for max pooling)."""
    top, bottom, left, right = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=fill)


def im2col(x: np.ndarray, kh: int, kw: int, stride=1, pad=0) -> np.ndarray:
    """Unfold every (kh, kw) window of a batch of images into one row of a matrix.

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kh, kw : int
        Window height and width.
    stride, pad : int or (int, int)
        Step between windows and zero padding on each side, per axis (h, w).

    Returns
    -------
    col : ndarray, shape (N*OH*OW, C*KH*KW), same dtype as ``x``
        ``col[(n*OH + i)*OW + j, (c*KH + p)*KW + q] = x_padded[n, c, i*SH + p, j*SW + q]``,
        with ``OH = (H + 2*PH - KH) // SH + 1`` and likewise OW.

    One strided slice per kernel offset (p, q) picks that offset's element of every window at
    once; :func:`im2col_naive` is the same, one window at a time. The engine's twin, on
    channels-last memory: :func:`convnp.fast.windows.column_chunks`.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"im2col: expected x of shape (N, C, H, W), got shape {x.shape}")
    (kh, kw), (sh, sw), pads, (oh, ow) = _geometry(x.shape, kh, kw, stride, pad, "im2col")
    n, c = x.shape[:2]
    x_padded = pad2d(x, pads)  # (N, C, Hp, Wp)
    col = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for p in range(kh):
        for q in range(kw):
            col[:, :, p, q] = x_padded[:, :, p:p + sh * oh:sh, q:q + sw * ow:sw]  # (N, C, OH, OW)
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, c * kh * kw)  # rows (n, oh, ow)


def col2im(col: np.ndarray, x_shape, kh: int, kw: int, stride=1, pad=0) -> np.ndarray:
    """Fold a column matrix back into images, summing overlapping contributions.

    This is the adjoint (transpose) of :func:`im2col`: ``sum(im2col(x) * col) ==
    sum(x * col2im(col, x.shape, ...))`` for all ``x`` and ``col``. It is how a convolution's
    input gradient is formed from the gradient of its column matrix.

    Parameters
    ----------
    col : ndarray, shape (N*OH*OW, C*KH*KW)
    x_shape : (N, C, H, W)
    kh, kw, stride, pad : as for :func:`im2col`.

    Returns
    -------
    ndarray, shape ``x_shape``, same dtype as ``col``.
    """
    if len(x_shape) != 4:
        raise ValueError(f"col2im: x_shape must be (N, C, H, W), got {tuple(x_shape)}")
    (kh, kw), (sh, sw), pads, (oh, ow) = _geometry(x_shape, kh, kw, stride, pad, "col2im")
    n, c, h, w = x_shape
    expected = (n * oh * ow, c * kh * kw)
    if col.shape != expected:
        raise ValueError(f"col2im: expected col of shape {expected} for x_shape {tuple(x_shape)}, "
                         f"got {col.shape}")
    col = col.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)  # (N, C, KH, KW, OH, OW)
    x_padded = np.zeros((n, c, h + pads[0] + pads[1], w + pads[2] + pads[3]), dtype=col.dtype)
    for p in range(kh):
        for q in range(kw):
            x_padded[:, :, p:p + sh * oh:sh, q:q + sw * ow:sw] += col[:, :, p, q]  # (N, C, OH, OW)
    return x_padded[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w]


def im2col_naive(x: np.ndarray, kh: int, kw: int, stride=1, pad=0) -> np.ndarray:
    """Loop version of :func:`im2col`, one window at a time (test oracle, readable reference)."""
    kernel, (sh, sw), pads, (oh, ow) = _geometry(x.shape, kh, kw, stride, pad, "im2col_naive")
    n, c = x.shape[:2]
    x_padded = pad2d(x, pads)
    col = np.zeros((n * oh * ow, c * kh * kw), dtype=x.dtype)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                window = x_padded[b, :, i * sh:i * sh + kh, j * sw:j * sw + kw]  # (C, KH, KW)
                col[(b * oh + i) * ow + j] = window.ravel()
    return col


def col2im_naive(col: np.ndarray, x_shape, kh: int, kw: int, stride=1, pad=0) -> np.ndarray:
    """Loop version of :func:`col2im` (test oracle, readable reference)."""
    kernel, (sh, sw), pads, (oh, ow) = _geometry(x_shape, kh, kw, stride, pad, "col2im_naive")
    n, c, h, w = x_shape
    x_padded = np.zeros((n, c, h + pads[0] + pads[1], w + pads[2] + pads[3]), dtype=col.dtype)
    for b in range(n):
        for i in range(oh):
            for j in range(ow):
                window = col[(b * oh + i) * ow + j].reshape(c, kh, kw)
                x_padded[b, :, i * sh:i * sh + kh, j * sw:j * sw + kw] += window
    return x_padded[:, :, pads[0]:pads[0] + h, pads[2]:pads[2] + w]
