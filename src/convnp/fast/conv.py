"""2-D convolution, tuned: the engine's twin of :mod:`convnp.functional.conv` (same numbers).

Faster than the textbook's ``im2col`` → matmul → ``col2im`` because it builds its window
matrices from channels-last memory in cache-sized chunks, picks the cheapest of several
equivalent matrix forms by the layer's shape, and reuses its work arrays across steps.

Forward, for output channel o at position (i, j)::

    y[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] * x_pad[n, c, i*SH + p, j*SW + q]

As matrices, with ``X_col`` the (N*OH*OW, K) window matrix (K = C*KH*KW) and ``W2`` the weights
as (O, K): ``Y = X_col @ W2.T + b``. Backward follows from the matrix form::

    dW2 = dY.T @ X_col        db = sum over rows of dY        dX_col = dY @ W2

and ``dx`` is ``dX_col`` folded back onto the image (the adjoint of the window unfolding).
A stride-1 convolution whose padding keeps ``dy`` near the input's size takes a faster route:
its backward pass is itself a convolution of ``dy`` (:func:`conv_backward.backward_full_correlation`).

Two layouts of ``X_col`` are used, chosen by speed
(docs/performance.md, "Window matrices and chunking"):

* many input channels: rows built from channels-last memory, columns ordered (kh, kw, c), so
  every window row is a run of C contiguous numbers;
* few input channels (first layers, C < 4): the transposed matrix (C*KH*KW, N*OH*OW), built
  with one strided copy per kernel offset; BLAS multiplies by its transpose for free. It gets
  one extra row of ones, so the bias rides along as one more weight column: the GEMM adds it
  and ``dW``'s last column is ``db`` (cheaper than separate passes over the output).

Layers with few channels *and* few filters (seed002's, LeNet-5's) take a third route, the band
matrix of :mod:`.conv_band`: one row per block of B neighbouring outputs, KH*SPAN*C numbers
instead of B*KH*KW*C, against a banded weight matrix (more multiplies, much less copying;
docs/performance.md, "Band route").

A stride-1 convolution with 4-32 input channels whose ``dx`` is a full correlation takes a
fourth route forward, with no matrix at all: GEMMs on shifted views of the padded image, one
per kernel row, their outputs added (:mod:`.conv_shift`). For a forward pass alone (inference)
it needs nothing of ``dx`` and wins over a band where both would serve.

Each matrix is several times larger than the image. Up to ``windows.KEEP_COLUMNS_BYTES`` it is
built whole and kept for ``dW``; beyond that it is built in chunks of images of at most
``windows.COLUMN_CHUNK_BYTES`` — small enough that a chunk is still in cache when its GEMM
reads it — and backward builds it again the same
way. The cache holds the *unpadded* input, which the previous layer keeps alive anyway.

A large batch runs in parts of whole images on the engine's threads (:mod:`.parallel`), each
part by the routes above with a cache of its own; backward adds the parts' ``dW`` in order.

The textbook's :func:`convnp.functional.im2col` gives the (c, kh, kw) row layout; the routes
can be forced for tests with :func:`convnp.fast.force_conv_route`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..functional.conv import conv_geometry
from . import parallel, windows, workspace
from .activations import relu_inplace
from .conv_backward import FEW_CHANNELS, backward_full_correlation, dx_route, input_grad, weight_rows
from .conv_band import COPY_MACS, band_chunks, band_weight_grad, band_weights, block_for
from .conv_shift import shift_for, shift_forward_into
from .products import product_into, rows_product
from .routes import forced
from .windows import column_chunks, pad_channels_last, transposed_chunks


@dataclass
class ConvCache:
    """What :func:`conv2d_backward` needs from the forward pass."""

    source: np.ndarray  # the input x (N, C, H, W)
    transposed: bool  # few channels: window matrix built transposed, (C*KH*KW + 1, N*OH*OW)
    columns: np.ndarray | None  # the forward GEMM's whole left matrix, kept only when it is small
    weight: np.ndarray  # (O, C, KH, KW)
    x_shape: tuple
    stride: tuple
    pads: tuple  # (top, bottom, left, right)
    out_hw: tuple
    has_bias: bool
    block: int | None = None  # outputs per band on the band route (:mod:`.conv_band`), else None
    shift: int | None = None  # outputs per band of a shifted-rows forward (:mod:`.conv_shift`), else None
    parts: list | None = None  # (images, ConvCache) per part of the batch when the parts ran on threads

    @property
    def padded_shape(self):  # channels-last (N, Hp, Wp, C)
        n, c, h, w = self.x_shape
        return (n, h + self.pads[0] + self.pads[1], w + self.pads[2] + self.pads[3], c)


def conv2d_forward(x, weight, bias=None, stride=1, padding=0, *, relu=False, for_backward=True):
    """Convolve a batch of images with a bank of filters (and optionally apply a ReLU).

    Twin of :func:`convnp.functional.conv2d_forward` (same numbers); faster because its window
    matrices come from channels-last memory in cache-sized chunks, by the cheapest route for the
    layer's shape (bands for small layers), into reused arrays, a large batch split over the
    engine's threads (:mod:`.parallel`).

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

    for_backward : bool
        Whether :func:`conv2d_backward` will follow (training). Only the route depends on it:
        a band that only pays in the forward pass is taken for inference alone.
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
    # A part's work: its products and its window copy (COPY_MACS multiply-adds per number
    # copied), which dominates first layers with few channels (docs/performance.md, "Threads").
    window = oh * ow * weight[0].size  # numbers in one image's window matrix
    parts = parallel.image_parts(n, window * (out_channels + COPY_MACS), parallel.PART_MIN_MACS)
    cache = _cache_for(x, weight, stride, pads, (oh, ow), bias, for_backward, parts=len(parts))
    y_2d = workspace.empty((n * oh * ow, out_channels), np.result_type(x, weight))  # (N*OH*OW, O)
    if len(parts) == 1 or cache.block:  # a band GEMM is narrow: split, it lost 10-20% (seed002)
        _forward_into(y_2d, cache, bias, relu)
    else:
        _forward_in_parts(y_2d, cache, parts, bias, relu, for_backward)
    return y_2d.reshape(n, oh, ow, out_channels).transpose(0, 3, 1, 2), cache  # (N, O, OH, OW) view


def _forward_in_parts(y_2d, cache: ConvCache, parts, bias, relu, for_backward):
    """The forward pass on the engine's threads: each part of the images writes its rows of
    ``y_2d`` and keeps a cache of its own in ``cache.parts`` (docs/performance.md, "Threads")."""
    x, pixels = cache.source, cache.out_hw[0] * cache.out_hw[1]
    cache.parts = [(part, _cache_for(x[part], cache.weight, cache.stride, cache.pads, cache.out_hw, bias,
                                     for_backward, parts=len(parts))) for part in parts]
    parallel.run_parts(lambda k: _forward_into(y_2d[parts[k].start * pixels:parts[k].stop * pixels],
                                               cache.parts[k][1], bias, relu), list(range(len(parts))))
    kept = [part_cache.columns for _, part_cache in cache.parts if part_cache.columns is not None]
    if sum(columns.nbytes for columns in kept) > windows.KEEP_COLUMNS_BYTES:  # the serial rule's memory
        for _, part_cache in cache.parts:
            part_cache.columns = None


def _cache_for(x, weight, stride, pads, out_hw, bias, for_backward, *, parts) -> ConvCache:
    """The layer's routes (``parts``: how many parts the window route would run in)."""
    cache = ConvCache(x, x.shape[1] < FEW_CHANNELS, None, weight, x.shape, stride, pads, out_hw,
                      bias is not None)
    block = block_for(weight.shape, stride, out_hw, for_backward, parts)
    # A forward pass alone takes shifted rows over the rule's band where both serve (the 16->16
    # layers: 1.1-1.2x; docs/performance.md, "Shifted rows"); in training, or forced, the band.
    keep_band = block and (for_backward or forced("band") is not None)
    shift = None if keep_band else shift_for(cache, for_backward)
    cache.block, cache.shift = (None, shift) if shift else (block, None)
    return cache


def _forward_into(y_2d, cache: ConvCache, bias, relu):
    """Write the convolution of ``cache.source`` into ``y_2d`` (N*OH*OW, O), piece by piece."""
    if cache.shift:
        shift_forward_into(y_2d, cache.source, cache.weight, bias, cache.pads, cache.shift, relu)
        return
    matrix, chunks, separate_bias = _forward_route(cache, bias)
    out = y_2d.reshape(-1, matrix.shape[0])  # (N*OH*OW, O), or (N*OH*OW/B, B*O) on the band route
    built = 0  # one chunk alive at a time: a list of them would hold the whole window matrix
    for rows, lhs in chunks:  # (rows, K) pieces of the window (or band) matrix
        product_into(lhs, matrix.T, out[rows])
        if separate_bias is not None:
            out[rows] += separate_bias  # while this piece of the output is still in cache
        if relu:
            relu_inplace(out[rows])
        built += 1
    if built == 1 and dx_route(cache) != "full-correlation":  # small: kept, backward needs no rebuild
        cache.columns = lhs


def _forward_route(cache: ConvCache, bias):
    """The forward GEMM ``lhs @ matrix.T`` of this layer's route: ``(matrix, chunks, bias)``.

    ``matrix`` holds the weights as rows; ``chunks`` yields ``(row slice, lhs)``
    (:func:`_route_chunks`); ``bias`` is what the caller still adds to the product (None where
    ``matrix`` carries it as a column that meets a column of ones in ``lhs``).
    """
    if cache.block:
        return band_weights(cache.weight, bias, cache.block, cache.stride), _route_chunks(cache), None
    if cache.transposed:
        return _weight_with_bias(cache.weight, bias), _route_chunks(cache), None
    return weight_rows(cache.weight), _route_chunks(cache), bias


def _route_chunks(cache: ConvCache):
    """``(row slice, lhs)`` pieces of the left matrix of this layer's route, built from the input."""
    x, kernel, stride, out_hw = cache.source, cache.weight.shape[2:], cache.stride, cache.out_hw
    if cache.block:
        return band_chunks(pad_channels_last(x, cache.pads), kernel, stride, out_hw, cache.block)
    if cache.transposed:
        chunks = transposed_chunks(x, kernel, stride, cache.pads, out_hw)
        return ((rows, chunk.T) for rows, chunk in chunks)  # (rows, C*KH*KW + 1) views
    return column_chunks(x.transpose(0, 2, 3, 1), kernel, stride, out_hw, cache.pads)  # (N, H, W, C) view


def _weight_with_bias(weight, bias):
    """Weights as (O, C*KH*KW + 1): the last column is the bias (zeros without one)."""
    out_channels = weight.shape[0]
    extra = np.zeros((out_channels, 1), weight.dtype) if bias is None else bias.reshape(-1, 1)
    return np.concatenate([weight.reshape(out_channels, -1), extra], axis=1)


def conv2d_backward(dy, cache: ConvCache, need_input_grad: bool = True):
    """Gradients of a convolution.

    Twin of :func:`convnp.functional.conv2d_backward` (same numbers); faster because it reuses or
    rebuilds the window matrix in chunks and takes the cheapest of five routes for ``dx`` (often a
    correlation of ``dy``, no col2im).

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
    if cache.parts is None:
        dx, dweight, dbias = _backward_part(dy, cache, need_input_grad)
        return dx, np.ascontiguousarray(dweight), dbias
    return _backward_in_parts(dy, cache, need_input_grad)


def _backward_in_parts(dy, cache: ConvCache, need_input_grad: bool):
    """The backward pass on the engine's threads, part by part as the forward pass ran: each
    part's ``dx`` into its images of one array; ``dW`` and ``db`` summed over the parts in order."""
    n, c, h, w = cache.x_shape
    dx_nhwc = workspace.empty((n, h, w, c), np.result_type(dy, cache.weight)) if need_input_grad else None

    def part_backward(k):  # its images' dx into dx_nhwc; its share of dW and db
        images, part_cache = cache.parts[k]
        dx_part, dweight, dbias = _backward_part(dy[images], part_cache, need_input_grad)
        if need_input_grad:
            dx_nhwc[images] = dx_part.transpose(0, 2, 3, 1)
        return dweight, dbias

    grads = parallel.run_parts(part_backward, list(range(len(cache.parts))))
    dweight = np.array(grads[0][0], order="C")  # the parts' sums, added in part order
    dbias = None if grads[0][1] is None else grads[0][1].copy()
    for part_dweight, part_dbias in grads[1:]:
        dweight += part_dweight
        if dbias is not None:
            dbias += part_dbias
    dx = None if dx_nhwc is None else dx_nhwc.transpose(0, 3, 1, 2)  # (N, C, H, W) view
    return dx, dweight, dbias


def _backward_part(dy, cache: ConvCache, need_input_grad: bool):
    """:func:`conv2d_backward` of one part of the batch (or all of it): ``dx, dweight, dbias``."""
    out_channels = cache.weight.shape[0]
    dy_2d = dy.transpose(0, 2, 3, 1).reshape(-1, out_channels)  # (N*OH*OW, O), free if channels-last
    dx = None
    if dx_route(cache) == "full-correlation":
        dx, dweight = backward_full_correlation(dy_2d, cache, need_input_grad)
        dbias = _bias_grad(dy_2d) if cache.has_bias else None
    else:
        dy_rows = dy_2d.reshape(-1, out_channels * (cache.block or 1))  # (N*OH*OW/B, B*O) on the band route
        dmatrix = None
        for rows, lhs in _kept_or_rebuilt(cache):
            # The gradient of the forward's weight matrix (one chunk's part). On the transposed
            # route lhs is a view of a (K+1, rows) array: multiplied from the left as it lies,
            # the product is 1.9x faster (a stem's part: 0.96 -> 0.51 ms), and by np.dot, which
            # lets go of the interpreter lock where np.matmul keeps it (a result of 500 numbers
            # or fewer), so the other thread's part runs meanwhile (docs/performance.md, "Threads").
            product = np.dot(lhs.T, dy_rows[rows]).T if cache.transposed else rows_product(dy_rows[rows], lhs)
            if dmatrix is None:
                dmatrix = product
            else:
                dmatrix += product
        dweight, dbias = _weight_grads(dmatrix, dy_2d, cache)
    if need_input_grad and dx is None:
        dx = input_grad(dy_2d, cache)
    return dx, dweight, dbias


def _weight_grads(dmatrix, dy_2d, cache: ConvCache):
    """``(dweight, dbias)`` from the gradient of the route's weight matrix (see _forward_route)."""
    out_channels, c, kh, kw = cache.weight.shape
    if cache.block:
        dweight, dbias = band_weight_grad(dmatrix, cache.weight.shape, cache.block, cache.stride)
    elif cache.transposed:  # (O, C*KH*KW + 1), the last column is db
        dweight, dbias = dmatrix[:, :-1].reshape(cache.weight.shape), np.ascontiguousarray(dmatrix[:, -1])
    else:  # (O, KH*KW*C)
        dweight = dmatrix.reshape(out_channels, kh, kw, c).transpose(0, 3, 1, 2)  # (O, C, KH, KW)
        dbias = _bias_grad(dy_2d)
    return dweight, (dbias if cache.has_bias else None)


def _bias_grad(dy_2d):
    """Column sums of (rows, O) as a matrix-vector product: faster than ``.sum(axis=0)``
    (docs/performance.md, "Window matrices and chunking"); by np.dot, which lets go of the
    interpreter lock where np.matmul keeps it (a result of 500 numbers or fewer: the threads'
    parts would run one after the other; docs/performance.md, "Threads")."""
    return np.dot(np.ones(dy_2d.shape[0], dtype=dy_2d.dtype), dy_2d)


def _kept_or_rebuilt(cache: ConvCache):
    """The forward GEMM's left matrix as ``(row slice, lhs)`` chunks: kept, or built again."""
    if cache.columns is not None:
        return [(slice(None), cache.columns)]
    return _route_chunks(cache)
