"""Batch normalisation, tuned: twins of :mod:`convnp.functional.normalization` (same numbers).

The textbook makes six passes over the whole activation in the forward pass (mean, centre,
variance, scale, weight, bias) and five in the backward pass, each over an NCHW view of the
convolution's channels-last memory, where a per-channel vector broadcasts across strided
loops. Here the same formulas run

* on the memory as it lies: rows of C channels (channels-last) or of L pixels (NCHW), so the
  per-channel vector broadcasts along contiguous memory;
* in blocks of about ``BLOCK_BYTES`` that stay in cache while every pass of a phase visits them,
  so a phase reads the activation from memory once: forward ``sums | centre + squares | scale +
  shift``, backward ``sums | dx``;
* on the engine's threads, a run of blocks each (:mod:`.parallel`). Each block's sums are
  float32 over a few thousand numbers per channel, added over the blocks in float64 — the
  textbook's rule with blocks for images — and in block order, so threads change nothing.

The forward pass keeps the centred input ``x - mean`` instead of ``x_hat`` for backward (one
multiply less per element): ``sum(dy * x_hat) = inv_std * sum(dy * (x - mean))``, and::

    dx = k * dy + a * (x - mean) + c,   k = weight * inv_std,
    a = -k * inv_std * dweight / m,     c = -k * dbias / m.
"""

from __future__ import annotations

import numpy as np

from . import workspace
from .parallel import image_parts, run_parts
from .processes import active, combined, gathered, whole_batch

ROW_NUMBERS = 4096  # channels-last rows are tiled to at most this many numbers (see _Layout)
BLOCK_BYTES = 512 * 2**10  # a block: this many bytes of the activation, at least one row
PART_MIN_BYTES = 2 * 2**20  # a run of blocks on its own thread has at least this many bytes


class _Layout:
    """How an (N, C, ...) activation is walked: rows, blocks of rows, per-channel vectors.

    NCHW memory: (N, C, L), blocks of whole images, a (C,) vector as (C, 1). Channels-last
    memory (or (N, C)): the (N*L, C) matrix as (N*L/R, R*C), R pixels per row and vectors tiled
    R times — NumPy's loop over a row of R*C numbers runs at memory speed, over a row of 16
    channels at about half of it (docs/performance.md, "BatchNorm").
    """

    def __init__(self, a, channels_last: bool):
        n, c = a.shape[:2]
        self.shape, self.channels, self.channels_last = a.shape, c, channels_last
        if channels_last:
            pixels = a.size // c  # N*L
            self.repeat = next(r for r in range(max(1, ROW_NUMBERS // c), 0, -1) if pixels % r == 0)
            self.rows_shape = (pixels // self.repeat, self.repeat * c)
            self.ones = np.ones(self.rows_shape[0], a.dtype)
        else:
            self.repeat, self.rows_shape = 1, (n, c, a.size // max(1, n * c))
        row_bytes = a.itemsize * (a.size // max(1, self.rows_shape[0]))
        step = max(1, BLOCK_BYTES // max(1, row_bytes))
        rows = self.rows_shape[0]
        self.blocks = [slice(i, min(i + step, rows)) for i in range(0, rows, step)]
        self.block_bytes = step * row_bytes

    def rows(self, a):
        """``a`` (this layout's shape and memory order) as rows: a view."""
        return (np.moveaxis(a, 1, -1) if self.channels_last else a).reshape(self.rows_shape)

    def vector(self, values):
        """A (C,) vector shaped to broadcast against a block of rows."""
        return np.tile(values, self.repeat) if self.channels_last else values[:, None]

    def sums(self, block, rows, other=None):
        """Sums of ``rows[block]`` (or of its products with ``other[block]``) down the rows:
        (C,) for NCHW memory, (R*C,) — one sum per tiled channel — for channels-last memory;
        :meth:`total` adds the R copies of a channel."""
        if not self.channels_last:
            return (np.einsum("ncl->c", rows[block]) if other is None else
                    np.einsum("ncl,ncl->c", rows[block], other[block]))
        if other is None:
            return self.ones[:block.stop - block.start] @ rows[block]  # a matrix-vector product
        return np.einsum("rk,rk->k", rows[block], other[block])

    def each_block(self, function):
        """``function(block)`` for every block, runs of blocks on the engine's threads."""
        runs = image_parts(len(self.blocks), self.block_bytes, PART_MIN_BYTES)
        run_parts(lambda run: [function(block) for block in self.blocks[run]], runs)

    def total(self, function, dtype):
        """Per-channel totals of ``function(block)``'s float32 sums (:meth:`sums`, or a stack of
        them): added over the blocks (in block order) and the tiled copies in float64 — and over
        the other processes' parts in a split step — then cast to ``dtype``."""
        return combined(self.part_total(function)).astype(dtype)

    def part_total(self, function):
        """:meth:`total` of this process's part alone, in float64."""
        per_block = [None] * len(self.blocks)
        index = {block.start: k for k, block in enumerate(self.blocks)}

        def one(block):
            per_block[index[block.start]] = function(block)

        self.each_block(one)
        totals = np.sum(per_block, axis=0, dtype=np.float64)  # (..., R*C) or (..., C)
        return totals.reshape(*totals.shape[:-1], self.repeat, self.channels).sum(axis=-2)


def _layout_of(a, channels_last=None):
    """``(_Layout, a)``: ``a`` read in its own memory order (or in ``channels_last``'s), copied
    into that order first when its memory is in neither."""
    if channels_last is None:
        channels_last = a.ndim == 2 or (np.moveaxis(a, 1, -1).flags.c_contiguous and not a.flags.c_contiguous)
    if not channels_last or a.ndim == 2:
        a = np.ascontiguousarray(a)
    elif not np.moveaxis(a, 1, -1).flags.c_contiguous:
        a = np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1)  # a channels-last copy
    return _Layout(a, channels_last), a


def values_per_channel(x) -> int:
    """m: the values per channel of the whole batch (of every process's part in a split step)."""
    return x.size // max(1, x.shape[0] * x.shape[1]) * whole_batch(x.shape[0])


def batch_norm_train_forward(x, weight, bias, eps):
    """Normalise ``x`` with its own per-channel statistics.

    Twin of :func:`convnp.functional.batch_norm_train_forward` (same numbers); faster because it
    reads the activation from memory three times instead of six, in cached blocks, along its
    memory, on the engine's threads. Returns ``y, cache, mean, var`` (cache: ``(x - mean, inv_std)``).
    """
    layout, x = _layout_of(x)
    count, split = values_per_channel(x), active() is not None  # m; the batch split over processes
    x_rows = layout.rows(x)
    if split:  # one meeting instead of two: each part centres on its own mean (_merged)
        part_sums = layout.part_total(lambda b: layout.sums(b, x_rows))
        mean = part_sums.astype(x.dtype) / (x.size // x.shape[1])
    else:
        mean = layout.total(lambda b: layout.sums(b, x_rows), x.dtype) / count
    centred = workspace.empty_like(x)
    centred_rows, tiled_mean = layout.rows(centred), layout.vector(mean)

    def centre(b):  # x - mean, and the sums of its squares while the block is in cache
        np.subtract(x_rows[b], tiled_mean, out=centred_rows[b])
        return layout.sums(b, centred_rows, centred_rows)

    moved = None  # the whole batch's mean less this part's, in a split step
    if split:
        mean, var, moved = _merged(part_sums, layout.part_total(centre), mean, x.size // x.shape[1], count)
    else:
        var = layout.total(centre, x.dtype) / count
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype, copy=False)  # (C,)
    scale = weight * inv_std
    scale, shift = layout.vector(scale), layout.vector(bias if moved is None else bias - moved * scale)
    y = workspace.empty_like(x)
    y_rows = layout.rows(y)

    def normalise(b):
        np.multiply(centred_rows[b], scale, out=y_rows[b])
        y_rows[b] += shift

    layout.each_block(normalise)
    return y, (centred, inv_std) if moved is None else (centred, inv_std, moved), mean, var


def _merged(part_sums, part_squares, part_mean, part_count, count):
    """The whole batch's ``(mean, var)`` from every process's part in one exchange (Chan et al.'s
    rule for merging centred sums), and how far the whole mean lies from this part's.

    Each part k sends its sum ``S_k``, its count ``n_k``, the mean ``c_k`` it centred on (as
    used, rounded) and ``M2_k = sum((x - c_k)**2)``; with the whole mean ``mu = sum(S_k) / m``
    and ``e_k = S_k / n_k - c_k``, every process then adds, in part order::

        sum((x - mu)**2) = sum_k M2_k + n_k * (mu - c_k)**2 - 2 * n_k * (mu - c_k) * e_k

    — small differences only, so no digits cancel however far the mean lies from zero."""
    centre = part_mean.astype(np.float64)
    parts = gathered(np.stack([part_sums, part_squares, centre, np.full_like(centre, part_count)]))
    sums, squares, centres, counts = parts[:, 0], parts[:, 1], parts[:, 2], parts[:, 3]  # (P, C) each
    total = np.sum(sums, axis=0)  # in part order
    mu = total / count
    off, error = mu - centres, sums / counts - centres
    m2 = np.sum(squares + counts * off * off - 2 * counts * off * error, axis=0)
    mean = total.astype(part_mean.dtype) / count
    return mean, np.maximum(m2, 0.0).astype(part_mean.dtype) / count, mean - part_mean


def batch_norm_train_backward(dy, cache, weight):
    """Gradients of :func:`batch_norm_train_forward`: ``dx, dweight, dbias``.

    Twin of :func:`convnp.functional.batch_norm_train_backward` (same numbers); faster for the
    same reasons: two reads of ``dy`` from memory (sums, then ``dx``), in cached blocks, on threads.
    """
    centred, inv_std, *moved = cache  # moved: in a split step, the whole mean less this part's
    layout, centred = _layout_of(centred)
    _, dy = _layout_of(dy, layout.channels_last)  # dy in the centred input's memory order
    count = values_per_channel(dy)
    dy_rows, centred_rows = layout.rows(dy), layout.rows(centred)
    sums = layout.part_total(lambda b: np.stack([layout.sums(b, dy_rows),
                                                 layout.sums(b, dy_rows, centred_rows)]))
    if moved:  # sum(dy * (x - mean)) from this part's centring: less moved * sum(dy)
        sums[1] -= moved[0] * sums[0]
    sums = combined(sums)
    dbias = sums[0].astype(dy.dtype)
    dweight = (sums[1] * inv_std).astype(dy.dtype)
    k = weight * inv_std
    slope = -k * inv_std * dweight / count
    c = -k * dbias / count - slope * (moved[0] if moved else 0)
    a, c, k = layout.vector(slope), layout.vector(c), layout.vector(k)
    dx = workspace.empty_like(centred, dy.dtype)
    dx_rows = layout.rows(dx)

    def input_grad(b):
        out = dx_rows[b]
        np.multiply(dy_rows[b], k, out=out)
        out += centred_rows[b] * a  # a block-sized temporary, in cache
        out += c

    layout.each_block(input_grad)
    return dx, dweight, dbias


def batch_norm_eval_forward(x, weight, bias, running_mean, running_var, eps):
    """``y = x * scale + shift`` per channel, with fixed statistics (evaluation mode).

    Twin of :func:`convnp.functional.batch_norm_eval_forward` (same numbers); faster because its
    two passes run per cached block, along memory, on the engine's threads.
    Returns ``y, cache`` (cache: ``(x, mean, inv_std)``, as the textbook's).
    """
    layout, x = _layout_of(x)
    mean = running_mean.astype(x.dtype, copy=False)
    inv_std = (1.0 / np.sqrt(running_var + eps)).astype(x.dtype, copy=False)  # (C,)
    scale = weight * inv_std
    shift, scale = layout.vector(bias - mean * scale), layout.vector(scale)
    x_rows, y = layout.rows(x), workspace.empty_like(x)
    y_rows = layout.rows(y)

    def affine(b):
        np.multiply(x_rows[b], scale, out=y_rows[b])
        y_rows[b] += shift

    layout.each_block(affine)
    return y, (x, mean, inv_std)


def batch_norm_eval_backward(dy, cache, weight):
    """Gradients of :func:`batch_norm_eval_forward`: ``dx = dy * weight * inv_std``, ``dbias =
    sum(dy)``, ``dweight = inv_std * (sum(dy * x) - mean * dbias)``.
    Twin of :func:`convnp.functional.batch_norm_eval_backward` (same numbers)."""
    x, mean, inv_std = cache
    layout, x = _layout_of(x)
    _, dy = _layout_of(dy, layout.channels_last)
    x_rows, dy_rows = layout.rows(x), layout.rows(dy)
    dx = workspace.empty_like(x, dy.dtype)
    dx_rows, k = layout.rows(dx), layout.vector(weight * inv_std)

    def block(b):
        np.multiply(dy_rows[b], k, out=dx_rows[b])
        return np.stack([layout.sums(b, dy_rows), layout.sums(b, dy_rows, x_rows)])

    sums = layout.total(block, dy.dtype)
    dbias = sums[0]
    dweight = inv_std * (sums[1] - mean * dbias)
    return dx, dweight, dbias
