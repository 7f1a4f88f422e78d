"""The routes of a convolution's input gradient ``dx`` (the matrix form is in :mod:`.conv`).

``dx`` is the window-matrix gradient ``dX_col = dY @ W2`` folded back onto the image. Which way
of computing it is fastest depends on the layer's shape
(docs/performance.md, "Input-gradient routes"):

* the band route (few channels and filters, :mod:`.conv_band`): ``dX_band = dY @ W_band.T``,
  added back band by band;
* few input channels: one GEMM for ``dX_col``, then a scatter-add per kernel offset;
* stride 1, padding that keeps ``dy`` near the input's size ('same'): ``dx`` is a full
  correlation of ``dy`` with the flipped kernel, one GEMM over ``dy``'s window matrix, which
  also gives ``dW`` (:func:`backward_full_correlation`);
* other stride-1 convolutions ('valid'): the correlation along rows only, one strided add per
  kernel row (:func:`_input_grad_rows`);
* otherwise: one (N*OH*OW, C) product per kernel offset, added into the padded gradient.

Every route returns the same numbers up to float rounding; the loop oracle
:func:`.conv.conv2d_backward_naive` checks each of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from . import workspace
from .conv_band import band_input_grad
from .products import product_into, rows_product
from .routes import forced
from .windows import column_chunks, crop_to_nchw, offset_slice, scatter_add_windows, window_view

if TYPE_CHECKING:
    from .conv import ConvCache

FEW_CHANNELS = 4  # below this many input channels the transposed column layout is faster
FULL_DX_MAX_GROWTH = 1.5  # stride-1 dx as a full correlation when it has <= this many more rows
ROW_DX_MAX_GROWTH = 2.0  # stride-1 dx by rows when the padded width is <= this many times OW


def weight_rows(weight):
    """Weights as (O, KH*KW*C), columns ordered (kh, kw, c) like the channels-last windows."""
    return weight.transpose(0, 2, 3, 1).reshape(weight.shape[0], -1)


def input_grad(dy_2d, cache: ConvCache):
    """d loss / d x, as an NCHW view of channels-last memory (full correlation aside).

    ``dy_2d`` is (N*OH*OW, O), rows in channels-last order.
    """
    n, c, h, w = cache.x_shape
    out_channels, _, kh, kw = cache.weight.shape
    oh, ow = cache.out_hw
    route = dx_route(cache)
    if route == "band":
        grad_padded = band_input_grad(dy_2d, cache.weight, cache.padded_shape, cache.stride, cache.out_hw,
                                      cache.block)
    elif route == "columns":
        dcolumns = dy_2d @ weight_rows(cache.weight)  # (N*OH*OW, KH*KW*C)
        grad_windows = dcolumns.reshape(n, oh, ow, kh, kw, c)
        grad_padded = scatter_add_windows(grad_windows, cache.padded_shape, cache.stride)
    elif route == "rows":
        grad_padded = _input_grad_rows(dy_2d, cache)
    else:
        grad_padded = workspace.zeros(cache.padded_shape, dy_2d.dtype)  # (N, Hp, Wp, C)
        product = workspace.empty((n * oh * ow, c), dy_2d.dtype)
        for i in range(kh):
            for j in range(kw):
                product_into(dy_2d, cache.weight[:, :, i, j], product)  # (N*OH*OW, C)
                grad_padded[offset_slice(i, j, cache.stride, cache.out_hw)] += product.reshape(n, oh, ow, c)
    return crop_to_nchw(grad_padded, cache.pads, (h, w))  # (N, C, H, W) view


def _input_grad_rows(dy_2d, cache: ConvCache):
    """The padded ``dx`` of a stride-1 convolution, correlated along rows, looped over kernel rows.

    With ``dy_wide`` the output gradient shifted right by KW-1 inside zeros of shape
    (N, OH, Wp+KW-1, O) and ``R`` its (1, KW) window matrix (N*OH*Wp, KW*O)::

        dx_pad[n, i + p, x, c] += sum_{q, o} dy_wide[n, i, x + q, o] * w[o, c, p, KW-1-q]

    i.e. for each kernel row p one GEMM ``R @ W_p`` (W_p: row p, flipped left-right, as
    (KW*O, C)) whose (N, OH, Wp, C) result is added to rows p..p+OH-1 of ``dx_pad``. Each add
    covers whole padded rows (a contiguous Wp*C run), where adding one kernel offset at a time
    runs over OW*C numbers per row, KW times as often: 25 adds cost more than their GEMMs.
    """
    n, hp, wp, c = cache.padded_shape
    out_channels, _, kh, kw = cache.weight.shape
    oh, ow = cache.out_hw
    dy_wide = workspace.zeros((n, oh, wp + kw - 1, out_channels), dy_2d.dtype)
    dy_wide[:, :, kw - 1:kw - 1 + ow] = dy_2d.reshape(n, oh, ow, out_channels)  # (N, OH, Wp+KW-1, O)
    rows = workspace.empty((n * oh * wp, kw * out_channels), dy_2d.dtype)  # R: (N*OH*Wp, KW*O)
    rows.reshape(n, oh, wp, 1, kw, out_channels)[...] = window_view(dy_wide, (1, kw), (1, 1), (oh, wp))
    grad_padded = workspace.zeros((n, hp, wp, c), dy_2d.dtype)
    product = workspace.empty((n * oh * wp, c), dy_2d.dtype)
    for p in range(kh):
        kernel_row = cache.weight[:, :, p, ::-1].transpose(2, 0, 1).reshape(kw * out_channels, c)  # (KW*O, C)
        product_into(rows, kernel_row, product)  # (N*OH*Wp, C)
        grad_padded[:, p:p + oh] += product.reshape(n, oh, wp, c)
    return grad_padded


def dx_route(cache: ConvCache) -> str:
    """The route of this convolution's ``dx``: 'band' after a band forward; else, by shape,
    'columns' (few input channels), 'full-correlation' (stride 1, ``dy`` padded to the input's
    size not much larger), 'rows' (other stride 1 with little padding), or 'offsets'. A route
    forced by :func:`.routes.force_conv_route` wins where it can serve the layer."""
    if cache.block:
        return "band"
    forced_route = forced("dx")
    if forced_route in ("columns", "offsets") or (forced_route and cache.stride == (1, 1)):
        return forced_route
    n, c, h, w = cache.x_shape
    oh, ow = cache.out_hw
    if c < FEW_CHANNELS:
        return "columns"
    if cache.stride != (1, 1):
        return "offsets"
    if h * w <= FULL_DX_MAX_GROWTH * oh * ow:
        return "full-correlation"
    return "rows" if cache.padded_shape[2] <= ROW_DX_MAX_GROWTH * ow else "offsets"


def backward_full_correlation(dy_2d, cache: ConvCache, need_input_grad: bool):
    """``dx`` and ``dW`` of a stride-1 convolution from one window matrix of ``dy``.

    With ``dy_full`` the output gradient shifted down by KH-1-top rows and right by KW-1-left
    columns inside zeros of shape (N, H+KH-1, W+KW-1, O) (never built whole: each chunk of
    ``D`` pads its own images, :func:`.windows.column_chunks`), and ``D`` its window matrix
    (N*H*W, KH*KW*O)::

        dx[n, y, x, c] = sum_{p, q, o} dy_full[n, y + p, x + q, o] * w[o, c, KH-1-p, KW-1-q]
        dW[o, c, KH-1-p, KW-1-q] = sum_{n, y, x} dy_full[n, y + p, x + q, o] * x[n, y, x, c]

    i.e. ``dX = D @ W_flipped`` and ``dW_flipped = D.T @ X``: both GEMMs read each chunk of
    ``D`` while it is in cache, and the input's window matrix is not built again.
    """
    n, c, h, w = cache.x_shape
    out_channels, _, kh, kw = cache.weight.shape
    dy_nhwc = dy_2d.reshape(n, *cache.out_hw, out_channels)  # (N, OH, OW, O)
    # dy_full's borders: KH-1-top rows above dy, ...; a negative one crops dy instead
    borders = [k - 1 - pad for k, pad in zip((kh, kh, kw, kw), cache.pads, strict=True)]
    top, bottom, left, right = (max(0, -border) for border in borders)
    dy_inside = dy_nhwc[:, top:cache.out_hw[0] - bottom, left:cache.out_hw[1] - right]
    dy_chunks = column_chunks(dy_inside, (kh, kw), (1, 1), (h, w), [max(0, border) for border in borders])
    flipped = cache.weight[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(-1, c)  # (KH*KW*O, C)
    x_2d = cache.source.transpose(0, 2, 3, 1).reshape(n * h * w, c)  # (N*H*W, C), free if channels-last
    dx_2d = workspace.empty((n * h * w, c), dy_2d.dtype) if need_input_grad else None
    dflipped = np.zeros(flipped.shape, dtype=dy_2d.dtype)  # (KH*KW*O, C)
    for chunk_rows, chunk in dy_chunks:  # D's rows, each chunk padded while in cache
        if need_input_grad:
            product_into(chunk, flipped, dx_2d[chunk_rows])  # (rows, C)
        dflipped += rows_product(chunk, x_2d[chunk_rows])  # chunk.T @ x
    dweight = dflipped.reshape(kh, kw, out_channels, c)[::-1, ::-1].transpose(2, 3, 0, 1)  # (O, C, KH, KW)
    dx = None if dx_2d is None else dx_2d.reshape(n, h, w, c).transpose(0, 3, 1, 2)  # (N, C, H, W) view
    return dx, dweight
