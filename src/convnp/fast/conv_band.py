"""Convolution by bands of outputs: the route for layers with few channels and few filters.

A block of B neighbouring outputs along a row reads KH input rows of ``SPAN = (B-1)*SW + KW``
pixels each. Write those KH*SPAN pixels as one row of a band matrix ``X_band``, and the
weights as a banded (Toeplitz) matrix ``W_band`` of shape (KH*SPAN*C, B*O)::

    W_band[(p, s, c), (t, o)] = w[o, c, p, s - t*SW]   if 0 <= s - t*SW < KW, else 0
    Y[(n, i, b), (t, o)] = sum_{p, s, c} X_band[(n, i, b), (p, s, c)] * W_band[(p, s, c), (t, o)]

``Y``'s row (n, i, b) and column (t, o) are output (n, i, j = b*B + t, o): Y is the output in
channels-last order, as (N*OH*OW/B, B*O). Backward follows from the matrix form::

    dW_band = X_band.T @ dY      dw[o, c, p, q] = sum_t dW_band[(p, t*SW + q, c), (t, o)]
    dX_band = dY @ W_band.T      (each row added back onto the KH*SPAN pixels it was read from)

Against the window matrix of :mod:`.conv` (KH*KW*C numbers per output), ``X_band`` holds
KH*SPAN*C/B per output (5x5 kernel, B = 8: 7.5*C instead of 25*C) and its rows are KH runs of
SPAN*C contiguous numbers, copied one run at a time; the GEMM multiplies SPAN/KW times as many
numbers, the zeros of the band included. That pays where the copy costs more than the
multiplies: few input channels and few filters (:func:`band_block` decides).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import workspace
from .parallel import blas_held
from .products import product_into
from .routes import forced
from .windows import images_per_chunk

BLOCKS = range(2, 17)  # outputs per band considered (those that divide the output width)
COPY_MACS = 32  # multiply-adds that cost as much as copying one number of a window matrix
RUN_MACS = 512  # ... as starting one run of a copy (refitted: docs/performance.md, "Band route")
MIN_GAIN_MACS = 48  # a smaller predicted gain is within the model's error: keep the window matrix
INFERENCE_MIN_GAIN_MACS = 24  # ... for a forward pass alone (no backward will follow)
WHOLE_ROW_DX_MAX_GROWTH = 2.0  # dx in whole-row bands while that costs at most this many times the multiplies


def band_block(weight_shape, stride, out_hw, for_backward=True, splits=False, window_share=1.0) -> int | None:
    """Outputs per band for this convolution, or None where the window-matrix route is faster.

    Per output, kernel row and input channel, a band of B outputs copies ``KW - SPAN/B`` fewer
    numbers than the window matrix, in 1/B as many runs (the window matrix copies one run of
    KW*C numbers per output and kernel row, the band one of SPAN*C per B outputs), and does
    ``O*(SPAN - KW)`` more multiply-adds. Counted in multiply-adds, the gain is::

        COPY_MACS * (KW - SPAN/B) + RUN_MACS * (1 - 1/B) / C - O * (SPAN - KW)

    The block with the largest gain above ``MIN_GAIN_MACS`` is used; for inference
    (``for_backward=False``), where the band's slower input gradient does not run, a gain above
    ``INFERENCE_MIN_GAIN_MACS`` — unless the window route would split over the engine's threads
    (``splits``): a band never splits, and a small gain does not repay the other core.

    ``window_share`` is the part of the window route's cost that the band must beat: 1, or 1/T
    where the window route's parts run on T threads while BLAS is held on one (a threaded
    plan's pass, :func:`block_for`), so that the band would run on one core alone. Per output,
    kernel row and input channel the window route costs ``(O + COPY_MACS) * KW + RUN_MACS / C``,
    the band ``O * SPAN + COPY_MACS * SPAN / B + RUN_MACS / (B * C)``; the gain is the share of
    the first less the second (the formula above at a share of 1).

    On the zoo's layers this picks B = 8 for seed002's 1->8 5x5 conv and B = 4 for its 8->16,
    B = 14 and 5 for LeNet-5's, B = 4 for simple-cnn's 1->30, B = 13 for seed000's 1->8 3x3, and
    B = 2-7 for 3x3 convs with 1-3 input channels; no band for 3x3 convs with 16 or more input
    channels (they take window matrices or shifted rows, :mod:`.conv_shift`): bands are
    1.3-1.5x slower for the ResNets' and deep-cnn's 16->16 convs, whose predicted gain (32 at
    B = 2) is below the threshold. Their inference on threads without that band: 1.13x / 1.26x
    faster at batch 64 / 256 (cifar-resnet14). The measurements are in docs/performance.md,
    "Band route".
    """
    out_channels, c, _, kw = weight_shape
    best, best_gain = None, float(MIN_GAIN_MACS if for_backward or splits else INFERENCE_MIN_GAIN_MACS)
    for block in BLOCKS:
        if out_hw[1] % block:
            continue
        span = (block - 1) * stride[1] + kw
        window = (out_channels + COPY_MACS) * kw + RUN_MACS / c
        band = out_channels * span + COPY_MACS * span / block + RUN_MACS / (block * c)
        gain = window_share * window - band
        if gain > best_gain:
            best, best_gain = block, gain
    return best


def band_weights(weight, bias, block, stride):
    """The banded weight matrix as rows, ``W_band.T`` with the bias as one more column:
    shape (B*O, KH*SPAN*C + 1); see the module docstring. ``bias`` may be None (zeros)."""
    out_channels, c, kh, kw = weight.shape
    span = (block - 1) * stride[1] + kw
    matrix = np.zeros((block, out_channels, kh * span * c + 1), weight.dtype)  # (B, O, KH*SPAN*C + 1)
    band = matrix[:, :, :-1].reshape(block, out_channels, kh, span, c)  # (B, O, KH, SPAN, C) view
    for t in range(block):
        band[t, :, :, t * stride[1]:t * stride[1] + kw] = weight.transpose(0, 2, 3, 1)  # (O, KH, KW, C)
    if bias is not None:
        matrix[:, :, -1] = bias
    return matrix.reshape(block * out_channels, -1)


def band_weight_grad(dmatrix, weight_shape, block, stride):
    """Adjoint of :func:`band_weights`: sum each weight's B copies in ``dmatrix``
    (B*O, KH*SPAN*C + 1). Returns ``dweight`` (O, C, KH, KW) and ``dbias`` (O,)."""
    out_channels, c, kh, kw = weight_shape
    span = (block - 1) * stride[1] + kw
    dmatrix = dmatrix.reshape(block, out_channels, -1)  # (B, O, KH*SPAN*C + 1)
    band = dmatrix[:, :, :-1].reshape(block, out_channels, kh, span, c)  # (B, O, KH, SPAN, C)
    dweight = np.zeros((out_channels, kh, kw, c), dmatrix.dtype)  # (O, KH, KW, C)
    for t in range(block):
        dweight += band[t, :, :, t * stride[1]:t * stride[1] + kw]
    return dweight.transpose(0, 3, 1, 2), dmatrix[:, :, -1].sum(axis=0)  # (O, C, KH, KW), (O,)


def _band_rows(padded, kernel, stride, out_hw, block):
    """View of ``padded`` (N, Hp, Wp, C) as pixel runs (N, OH, OW/B, KH): item ``[n, i, b, p]`` is
    the SPAN*C numbers from ``padded[n, i*SH + p, b*B*SW]`` on, one opaque (void) value."""
    n, _, _, c = padded.shape
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    span = (block - 1) * sw + kw
    run = np.dtype((np.void, span * c * padded.itemsize))
    step_n, step_y, step_x, _ = padded.strides
    shape, strides = (n, oh, ow // block, kh), (step_n, step_y * sh, step_x * sw * block, step_y)
    view = np.ndarray(shape, run, buffer=padded, strides=strides)  # (N, OH, OW/B, KH) runs
    view.flags.writeable = False
    return view


def band_chunks(padded, kernel, stride, out_hw, block):
    """Yield ``(row slice, X_band)`` for consecutive chunks of images.

    Each ``X_band`` is (images*OH*OW/B, KH*SPAN*C + 1), its last column ones (for the bias
    column of :func:`band_weights`); the row slice says which rows of the whole band matrix
    (and of ``Y`` as (N*OH*OW/B, B*O)) it holds. ``padded`` (N, Hp, Wp, C) must be C-contiguous.
    """
    n, _, _, c = padded.shape
    runs = _band_rows(padded, kernel, stride, out_hw, block)  # (N, OH, OW/B, KH) runs of SPAN*C
    rows_per_image = runs.shape[1] * runs.shape[2]
    row_size = kernel[0] * runs.itemsize // padded.itemsize + 1  # KH*SPAN*C + 1
    step = images_per_chunk(n, rows_per_image * row_size * padded.itemsize)
    for start in range(0, n, step):
        stop = min(start + step, n)
        band = workspace.empty(((stop - start) * rows_per_image, row_size), padded.dtype)
        band[:, :-1].view(runs.dtype).reshape(runs[start:stop].shape)[...] = runs[start:stop]  # the copy
        band[:, -1] = 1
        yield slice(start * rows_per_image, stop * rows_per_image), band


def band_input_grad(dy_2d, weight, padded_shape, stride, out_hw, block):
    """The padded input gradient (N, Hp, Wp, C) of the band route.

    Kernel row by kernel row p: ``dX_p = dY @ W_p`` with ``W_p`` the (B*O, SPAN*C) rows of the
    band weights that read kernel row p, each row of ``dX_p`` added back onto the SPAN pixels
    it was copied from. Where one band as wide as the whole output row costs at most
    ``WHOLE_ROW_DX_MAX_GROWTH`` times the multiplies, that is used instead: bands then never
    overlap, and each add covers whole image rows (docs/performance.md, "Band route").

    Parameters
    ----------
    dy_2d : ndarray (N*OH*OW, O), rows in channels-last order
    weight : ndarray (O, C, KH, KW)
    padded_shape : (N, Hp, Wp, C); stride, out_hw : (int, int); block : the forward's B
    """
    out_channels, c, kh, kw = weight.shape
    (oh, ow), sw, n = out_hw, stride[1], padded_shape[0]
    if (ow - 1) * sw + kw <= WHOLE_ROW_DX_MAX_GROWTH * ((block - 1) * sw + kw):
        block = ow
    span = (block - 1) * sw + kw
    # (B*O, KH, SPAN*C): kernel_rows[:, p] is W_p
    kernel_rows = band_weights(weight, None, block, stride)[:, :-1].reshape(-1, kh, span * c)
    dy_band = dy_2d.reshape(-1, block * out_channels)  # (N*OH*OW/B, B*O)
    grad_padded = workspace.zeros(padded_shape, dy_2d.dtype)  # (N, Hp, Wp, C)
    rows_per_image = oh * (ow // block)
    step = images_per_chunk(n, rows_per_image * kh * span * c * dy_2d.itemsize)
    product = workspace.empty((min(step, n) * rows_per_image, span * c), dy_2d.dtype)  # (rows, SPAN*C)
    for start in range(0, n, step):
        stop = min(start + step, n)
        rows = slice(start * rows_per_image, stop * rows_per_image)
        for p in range(kh):
            dx_p = product[:rows.stop - rows.start]
            product_into(dy_band[rows], kernel_rows[:, p], dx_p)  # (rows, SPAN*C)
            _scatter_add_bands(dx_p, grad_padded[start:stop, p:], stride, out_hw, block)
    return grad_padded


def _scatter_add_bands(dx_p, grad_rows, stride, out_hw, block):
    """Add one kernel row's ``dX_p`` (images*OH*OW/B, SPAN*C) onto ``grad_rows`` (images,
    Hp - p, Wp, C): row (n, i, b) onto the SPAN pixels from ``[n, i*SH, b*B*SW]`` on.

    Neighbouring bands overlap by SPAN - B*SW pixels, so with several bands per row each band
    is cut into pieces B*SW wide: piece k of all bands lands on disjoint pixels and takes one
    strided add (ceil(SPAN / (B*SW)) adds, not OW/B).
    """
    (sh, sw), (oh, ow) = stride, out_hw
    images, _, wp, c = grad_rows.shape
    span, bands = dx_p.shape[1] // c, ow // block
    width = block * sw if bands > 1 else span
    if (oh - 1) * sh >= grad_rows.shape[1] or (bands - 1) * block * sw + span > wp:  # as_strided stays inside
        raise ValueError(f"band_input_grad: {out_hw} outputs in bands of {block} do not fit "
                         f"{grad_rows.shape}")
    dx_p = dx_p.reshape(images, oh, bands, span, c)  # (n, OH, OW/B, SPAN, C)
    step_n, step_y, step_x, step_c = grad_rows.strides
    for start in range(0, span, width):
        size = min(width, span - start)
        target = as_strided(grad_rows[:, :, start:], (images, oh, bands, size, c),
                            (step_n, step_y * sh, step_x * width, step_x, step_c))
        target += dx_p[:, :, :, start:start + size]  # (n, OH, OW/B, size, C)


def block_for(weight_shape, stride, out_hw, for_backward=True, parts=1) -> int | None:
    """Outputs per band for this convolution (None: window matrices), as forced or by the cost
    model (:func:`band_block`). ``parts``: how many parts of the batch the window route would
    run on the engine's threads. Where it splits while BLAS is held on one thread (a pass of a
    plan whose layers split), a band would run on one core alone: it must beat the window
    route's cost per thread (cifar-small's 3->32 conv then leaves its band: 1.01-1.10x a step;
    docs/performance.md, "Band route")."""
    band = forced("band")
    if band is None:
        share = 1 / parts if parts > 1 and blas_held() else 1.0
        return band_block(weight_shape, stride, out_hw, for_backward, parts > 1, share)
    if band == "off":
        return None
    divisors = [b for b in range(1, min(out_hw[1], 16) + 1) if out_hw[1] % b == 0]
    return divisors[min(1, len(divisors) - 1)] if band == "narrow" else divisors[-1]
