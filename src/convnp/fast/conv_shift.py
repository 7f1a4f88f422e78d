"""Stride-1 convolution by shifted rows: GEMMs straight on the padded image, no window matrix.

Read padded channels-last images (N, Hp, Wp, C) as a matrix ``X`` of N*Hp rows, each one image
row of Wp*C numbers. The KW*C inputs that output (n, i, j) takes from kernel row p are then the
contiguous run ``X[n*Hp + i + p, j*C : (j + KW)*C]``, and for fixed p and j these runs, over
all rows, form a matrix whose rows lie Wp*C numbers apart: a GEMM operand as it stands, nothing
copied. With a band of B neighbouring outputs per GEMM row (a run of SPAN = B + KW - 1 pixels,
as in :mod:`.conv_band`)::

    Y_p[r, b, (t, o)] = sum_{s, c} X[r + p, (b*B + s)*C + c] * W_p[(s, c), (t, o)]
    W_p[(s, c), (t, o)] = w[o, c, p, s - t]   if 0 <= s - t < KW, else 0
    y[n, i, b*B + t, o] = sum_p Y_p[n*Hp + i, b, (t, o)]          for i < OH

One batched ``matmul`` per kernel row (the batch runs over the bands b), then KH - 1 additions of
the output. Rows r = n*Hp + i with i >= OH mix two images; they are computed and dropped
((KH-1)/Hp of the products). Against the window matrix (:mod:`.conv`), this saves the copy of
KH*KW*C numbers per output and costs KH - 1 passes over O numbers per output: it pays where
the copy is the larger part of the work, 3x3 layers with 4-32 input channels on images at least
16 wide (:func:`shift_block` decides; docs/performance.md, "Shifted rows").

The work goes in chunks of whole images, padded into a small reused buffer, so that the padded
input, the KH partial outputs and their sum stay in cache.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import workspace
from .activations import relu_inplace
from .conv_backward import dx_route
from .conv_band import band_weights
from .routes import forced
from .windows import pad_images

MIN_CHANNELS, MAX_CHANNELS = 4, 32  # input channels where the rule takes this route
MIN_WIDTH = 16  # narrower outputs: too few rows per GEMM, and (KH-1)/Hp of the products dropped
PAIR_MAX_FILTERS = 16  # up to this many filters, bands of 2 outputs (wider GEMMs) pay
STAGE_BYTES = 2 * 2**20  # the KH partial outputs of one chunk of images (they stay in cache)


def shift_block(in_channels, weight_shape, stride, out_hw) -> int | None:
    """Outputs per band of this convolution's shifted-rows forward, or None for another route.

    As forced by :func:`.routes.force_conv_route` (``shift``: 'off', or a band width, taken as
    the largest divisor of the output width up to it), else by the measured rule: stride 1, a
    kernel larger than 1x1, ``MIN_CHANNELS`` to ``MAX_CHANNELS`` input channels and an output
    at least ``MIN_WIDTH`` wide; bands of 2 up to ``PAIR_MAX_FILTERS`` filters, else 1.
    """
    out_channels, _, kh, kw = weight_shape
    choice = forced("shift")
    if tuple(stride) != (1, 1) or choice == "off":
        return None
    if choice is not None:
        return max(b for b in range(1, min(choice, out_hw[1]) + 1) if out_hw[1] % b == 0)
    if kh * kw == 1 or not MIN_CHANNELS <= in_channels <= MAX_CHANNELS or out_hw[1] < MIN_WIDTH:
        return None
    return 2 if out_channels <= PAIR_MAX_FILTERS and out_hw[1] % 2 == 0 else 1


def shift_for(cache, for_backward=True) -> int | None:
    """The band width of a shifted-rows forward for the layer of ``cache`` (a
    :class:`.conv.ConvCache`), or None: as forced, else by :func:`shift_block`'s rule — in
    training (``for_backward``) only where ``dx`` is a full correlation, whose backward never
    needs the input's window matrix, which this forward does not build."""
    block = shift_block(cache.x_shape[1], cache.weight.shape, cache.stride, cache.out_hw)
    if block is None or forced("shift") is not None or not for_backward:
        return block
    return block if not cache.transposed and dx_route(cache) == "full-correlation" else None


def shift_weights(weight, block):
    """``W_p`` for every kernel row p: shape (KH, SPAN*C, B*O) (see the module docstring)."""
    out_channels, c, kh, kw = weight.shape
    rows = band_weights(weight, None, block, (1, 1))[:, :-1]  # (B*O, KH*SPAN*C), no bias column
    return np.ascontiguousarray(rows.reshape(block * out_channels, kh, -1).transpose(1, 2, 0))


def shift_forward_into(out, x, weight, bias, pads, block, relu=False):
    """Write the stride-1 convolution of ``x`` into ``out`` by shifted rows.

    Parameters
    ----------
    out : ndarray, shape (N*OH*OW, O), C-contiguous: the output in channels-last order
    x : ndarray, shape (N, C, H, W)
    weight : ndarray, shape (O, C, KH, KW)
    bias : ndarray, shape (O,), or None
    pads : (top, bottom, left, right)
    block : int, outputs per band (dividing OW)
    relu : bool, also take ``max(y, 0)`` while each chunk of the output is in cache
    """
    n, c, h, w = x.shape
    out_channels, _, kh, kw = weight.shape
    hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
    oh, ow = hp - kh + 1, wp - kw + 1
    matrices = shift_weights(weight, block)  # (KH, SPAN*C, B*O)
    stage_bytes = forced("chunk_bytes") or STAGE_BYTES  # the test hook of :func:`.routes.force_conv_route`
    step = max(1, min(n, stage_bytes // (kh * hp * ow * out_channels * out.itemsize)))  # images per chunk
    scratch = workspace.zeros((step, hp, wp, c), out.dtype)  # borders stay 0: only insides are written
    stage = workspace.empty((kh, step * hp, ow, out_channels), out.dtype)  # (KH, rows, OW, O)
    images = x.transpose(0, 2, 3, 1)  # (N, H, W, C) view
    y = out.reshape(n, oh, ow, out_channels)  # (N, OH, OW, O)
    for start in range(0, n, step):
        stop = min(start + step, n)
        padded = pad_images(images[start:stop], pads, scratch)  # (n, Hp, Wp, C)
        partials = _kernel_row_products(padded, matrices, stage, block)  # (KH, n, Hp, OW, O)
        _sum_into(y[start:stop], partials[:, :, :oh], bias, relu)  # rows i < OH: (KH, n, OH, OW, O)


def _kernel_row_products(padded, matrices, stage, block):
    """``Y_p`` for every kernel row p, into ``stage``: returns it as (KH, n, Hp, OW, O)."""
    n, hp, wp, c = padded.shape
    kh, span_c, band_o = matrices.shape
    ow, out_channels = stage.shape[2:]
    rows = n * hp
    image_rows = padded.reshape(rows, wp * c)  # X: (n*Hp, Wp*C)
    valid = rows - (kh - 1)  # rows r whose r + p stays inside X for every p
    row_step, item = image_rows.strides[0], padded.itemsize
    for p in range(kh):
        runs = as_strided(image_rows[p:], (ow // block, valid, span_c), (block * c * item, row_step, item),
                          writeable=False)  # (OW/B, rows, SPAN*C): band b's runs
        products = stage[p, :valid].reshape(valid, ow // block, band_o).transpose(1, 0, 2)  # (OW/B, rows, BO)
        np.matmul(runs, matrices[p], out=products)
    return stage[:, :rows].reshape(kh, n, hp, ow, out_channels)


def _sum_into(target, partials, bias, relu):
    """``target = sum_p partials[p] (+ bias) (then max(., 0))``, for one chunk while it is in cache."""
    if len(partials) == 1:
        np.copyto(target, partials[0])
    else:
        np.add(partials[0], partials[1], out=target)
    for partial in partials[2:]:
        target += partial
    if bias is not None:
        target += bias
    if relu:
        relu_inplace(target)
