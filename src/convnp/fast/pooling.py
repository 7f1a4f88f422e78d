"""Max and average pooling, tuned: the engine's twins of :mod:`convnp.functional.pooling`.

Faster than the textbook's im2col + argmax because nothing is unfolded: both paths loop over
the KH*KW kernel offsets only; each step is one vectorised operation over the whole
(channels-last) batch. With few channels, max pooling first gathers the window
elements offset-major, (KH*KW, N, OH, OW, C), copying whole pixels (``windows.pixels``): its
passes then run over contiguous memory, where passes over strided offset views of the image
run C numbers per inner loop, each with a fixed cost (docs/performance.md, "Max-pool"). The
tie-breaking passes of its backward run on a contiguous (KH*KW, N, OH, OW, C) mask for every
channel count.

Max pooling: ``y = max over the window``; the gradient flows only to the element that was the
maximum, the first one in row-major window order on ties (torch's rule; real images are full of
exact ties such as zeros). Padding is -inf, so it is never chosen.

Average pooling: ``y = sum over the window / (KH*KW)`` with zero padding counted in the mean
(torch's ``count_include_pad=True``); every element of a window receives ``dy / (KH*KW)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..functional.pooling import pool_geometry
from . import workspace
from .routes import gathers_windows
from .windows import (
    axis_offset_slice,
    crop_to_nchw,
    gather_offsets,
    offset_slices,
    pad_channels_last,
    scatter_offsets,
)

# Below this many channels max-pool forward gathers the window elements first (see the module
# docstring) and keeps them for backward instead of its input: with few channels the strided
# passes' inner loops are too short to run fast (docs/performance.md, "Max-pool").
GATHER_CHANNELS = 16
# ... and below this many when backward will follow (training), where the contiguous passes of
# backward repay the copy; forward alone does not gain, and from ~96 channels on the strided
# passes' inner loops are long enough to tie.
TRAINING_GATHER_CHANNELS = 65


@dataclass
class PoolCache:
    """What the pooling backward passes need from the forward pass."""

    x_shape: tuple
    padded_shape: tuple  # (N, Hp, Wp, C)
    kernel: tuple
    stride: tuple
    pads: tuple  # (top, bottom, left, right)
    out_hw: tuple
    padded: np.ndarray | None = None  # max-pool without gathered windows: the padded channels-last input
    y: np.ndarray | None = None  # max-pool: the output, channels-last (N, OH, OW, C)
    windows: np.ndarray | None = None  # max-pool, few channels: the window elements (K, N, OH, OW, C)


def max_pool2d_forward(x, kernel_size, stride=None, padding=0, *, for_backward=True):
    """Maximum over each window.

    Twin of :func:`convnp.functional.max_pool2d_forward` (same numbers); faster because nothing is
    unfolded: one vectorised pass per kernel offset over strided views (or gathered window
    elements).

    Parameters
    ----------
    x : ndarray, shape (N, C, H, W)
    kernel_size : int or (int, int)
    stride : int, (int, int) or None (= kernel_size)
    padding : int or (int, int), implicit -inf padding
    for_backward : bool
        Whether :func:`max_pool2d_backward` will follow (training). Only the speed depends on it:
        with up to 64 channels the cache then keeps the window elements, gathered contiguous.

    Returns
    -------
    y : ndarray, shape (N, C, OH, OW) (NCHW view of channels-last memory)
    cache : PoolCache
    """
    kernel, stride, pads, out_hw = pool_geometry(x.shape, kernel_size, stride, padding, "max_pool2d")
    padded = pad_channels_last(x, pads, fill=-np.inf)  # (N, Hp, Wp, C)
    windows = None
    if gathers_windows(x.shape[1], TRAINING_GATHER_CHANNELS if for_backward else GATHER_CHANNELS):  # kept
        windows = gather_offsets(padded, kernel, stride, out_hw)  # (KH*KW, N, OH, OW, C)
    elements = _window_elements(padded, windows, kernel, stride, out_hw)
    y = workspace.empty(elements[0].shape, padded.dtype)  # (N, OH, OW, C)
    if len(elements) == 1:
        np.copyto(y, elements[0])
    else:  # the first maximum writes y: no separate copy pass
        np.maximum(elements[0], elements[1], out=y)
    for element in elements[2:]:
        np.maximum(y, element, out=y)  # NaN propagates, as in torch
    # Which element was the maximum is recomputed in backward: cheaper than tracking it here,
    # and inference never pays for it.
    kept = None if windows is not None else padded  # backward reads the gathered elements instead
    cache = PoolCache(x.shape, padded.shape, kernel, stride, pads, out_hw, kept, y, windows)
    return y.transpose(0, 3, 1, 2), cache  # (N, C, OH, OW) view


def max_pool2d_backward(dy, cache: PoolCache, relu=False):
    """Route each ``dy`` element to the input element that was its window's maximum.

    Twin of :func:`convnp.functional.max_pool2d_backward` (same numbers); faster because the first
    maximum is found with passes over contiguous masks, no im2col/col2im.

    Offsets are visited in row-major window order and an output position is "claimed" by the
    first offset equal to its maximum, so on ties the first maximum gets the gradient (torch's
    rule). A NaN maximum is routed to the last NaN of its window, as torch's kernel does. Every
    other element gets 0, whatever ``dy`` holds (an inf or NaN ``dy`` included).

    Parameters
    ----------
    dy : ndarray, shape (N, C, OH, OW)
    cache : PoolCache
    relu : bool
        A ReLU ran on the pooled output in place (``relu_inplace(y)`` after the forward pass, as
        the plan's max-pool step does): also its backward, ``dy`` stopped where ``y <= 0``
        (:func:`.activations.relu_backward`'s rule), folded into the claims: no pass of its own.

    Returns
    -------
    dx : ndarray, shape (N, C, H, W); overlapping windows add up.
    """
    dy_nhwc = dy.transpose(0, 2, 3, 1)  # (N, OH, OW, C)
    if not dy_nhwc.flags.c_contiguous:  # one transposing copy if dy is NCHW
        contiguous = workspace.empty(cache.y.shape, dy.dtype)
        np.copyto(contiguous, dy_nhwc)
        dy_nhwc = contiguous
    elements = _window_elements(cache.padded, cache.windows, cache.kernel, cache.stride, cache.out_hw)
    hit = workspace.empty((len(elements), *cache.y.shape), bool)  # (K, N, OH, OW, C)
    for element, element_hit in zip(elements, hit, strict=True):
        np.equal(element, cache.y, out=element_hit)
    _first_hits_only(hit)
    nan_unclaimed = np.isnan(cache.y)
    if nan_unclaimed.any():  # torch replaces the maximum at every NaN: the last one wins
        for element, element_hit in zip(elements[::-1], hit[::-1], strict=True):
            nan_hit = np.isnan(element) & nan_unclaimed
            nan_unclaimed &= ~nan_hit
            element_hit |= nan_hit
    if relu:  # the ReLU's backward: no claim where its output y <= 0 (a NaN y passes dy on)
        stopped = np.less_equal(cache.y, 0, out=workspace.empty(cache.y.shape, bool))
        words = _as_words(hit.reshape(len(hit), -1))  # (K, L/width), 8 mask bytes at a time
        words &= np.invert(_as_words(stopped.reshape(1, -1)))  # (1, L/width): a bool byte is 0 or 1
    select = _selector(dy_nhwc)
    routed = workspace.empty(cache.y.shape, dy.dtype)  # (N, OH, OW, C), one offset at a time
    grad_padded = scatter_offsets((select(element_hit, routed) for element_hit in hit),
                                  cache.padded_shape, cache.kernel, cache.stride, cache.out_hw)
    return crop_to_nchw(grad_padded, cache.pads, cache.x_shape[2:])


def _selector(dy):
    """``select(hit, out)``: ``dy`` where ``hit``, else 0, into ``out``. A multiply by the 0/1 mask
    where every ``dy`` is finite (exact there, and the fastest pass); else a bitwise AND with
    all-ones or all-zeros words, which keeps an inf or NaN ``dy`` from turning ``0 * dy`` into
    NaN (torch sends nothing to the elements that were not the maximum)."""
    if np.isfinite(dy).all():
        return lambda hit, out: np.multiply(hit, dy, out=out)
    words = np.dtype(f"i{dy.itemsize}")
    keep = workspace.empty(dy.shape, words)

    def select(hit, out):
        np.negative(hit.view(np.int8), out=keep, casting="unsafe")  # -1 (all bits set) or 0
        return np.bitwise_and(dy.view(words), keep, out=out.view(words)).view(dy.dtype)

    return select


def _window_elements(padded, windows, kernel, stride, out_hw):
    """The KH*KW (N, OH, OW, C) arrays of window elements, offset by offset: the gathered
    (contiguous) ones when there are, else strided views of ``padded``."""
    if windows is not None:
        return list(windows)
    return [padded[index] for index in offset_slices(kernel, stride, out_hw)]


def _first_hits_only(hit):
    """Keep, for each window, only the first offset that equals the maximum (in place).

    ``hit`` is (K, ...) bool. The passes run on its bytes as the widest unsigned words that fit:
    a bool byte is 0 or 1, so ``&`` and ``^`` on 8-byte words act on eight mask bytes at once.
    """
    words = _as_words(hit.reshape(hit.shape[0], -1))  # (K, L/width)
    unclaimed = _as_words(np.logical_not(hit[0]).reshape(1, -1))[0]
    for k in range(1, len(words)):
        words[k] &= unclaimed
        if k < len(words) - 1:  # after the last offset nothing is left to claim
            unclaimed ^= words[k]  # words[k] is within unclaimed: xor clears exactly those bytes


def _as_words(mask):
    """A (rows, L) bool array viewed as the widest unsigned integers whose size divides L."""
    width = next(w for w in (8, 4, 2, 1) if mask.shape[1] % w == 0)
    return mask.view(np.dtype(f"u{width}"))


def avg_pool2d_forward(x, kernel_size, stride=None, padding=0):
    """Mean over each window, zero padding included in the count.

    Twin of :func:`convnp.functional.avg_pool2d_forward` (same numbers up to the order of the
    additions); faster because nothing is unfolded and the window sums are taken kernel rows
    first: KH additions along whole image rows (Wp*C contiguous numbers each), then KW strided
    ones over the KH times smaller row sums. KH*KW strided additions of the whole image would
    run C numbers per inner loop, slow for few channels (docs/performance.md, "Max-pool").

    Parameters and returns as :func:`max_pool2d_forward` (the cache has no argmax).
    """
    kernel, stride, pads, out_hw = pool_geometry(x.shape, kernel_size, stride, padding, "avg_pool2d")
    padded = pad_channels_last(x, pads)  # (N, Hp, Wp, C)
    rows = _sum_kernel_rows(padded, kernel[0], stride[0], out_hw[0], axis=1)  # (N, OH, Wp, C)
    y = _sum_kernel_rows(rows, kernel[1], stride[1], out_hw[1], axis=2)  # (N, OH, OW, C)
    y /= kernel[0] * kernel[1]
    return y.transpose(0, 3, 1, 2), PoolCache(x.shape, padded.shape, kernel, stride, pads, out_hw)


def avg_pool2d_backward(dy, cache: PoolCache):
    """Share each ``dy`` element equally among the KH*KW elements of its window.

    Twin of :func:`convnp.functional.avg_pool2d_backward` (same numbers up to the order of the
    additions); faster because it is the forward's adjoint, no col2im: KW strided additions into
    row sums, then KH additions of those along whole image rows — copies, not additions into
    zeros, where the windows cover an axis exactly once.
    """
    (kh, kw), (sh, sw), (oh, ow) = cache.kernel, cache.stride, cache.out_hw
    n, _, wp, c = cache.padded_shape
    shared = workspace.empty((n, oh, ow, c), dy.dtype)  # (N, OH, OW, C): dy / (KH*KW), one pass
    np.divide(dy.transpose(0, 2, 3, 1), kh * kw, out=shared)
    rows = _spread_kernel_rows(shared, (n, oh, wp, c), kw, sw, axis=2)  # (N, OH, Wp, C)
    grad_padded = _spread_kernel_rows(rows, cache.padded_shape, kh, sh, axis=1)  # (N, Hp, Wp, C)
    return crop_to_nchw(grad_padded, cache.pads, cache.x_shape[2:])


def _sum_kernel_rows(large, k, step, count, axis):
    """``small[o] = sum_i large[o*step + i]`` (i < k) along ``axis`` (1 or 2): a new array."""
    shape = large.shape[:axis] + (count,) + large.shape[axis + 1:]
    small = workspace.empty(shape, large.dtype)
    target, source = (small, large) if axis == 1 else (small.swapaxes(1, 2), large.swapaxes(1, 2))
    terms = [source[:, axis_offset_slice(i, step, count)] for i in range(k)]
    if k == 1:
        target[...] = terms[0]
    else:  # the first two in one pass: a copy and an addition would be two
        np.add(terms[0], terms[1], out=target)
    for term in terms[2:]:
        target += term
    return small


def _spread_kernel_rows(small, shape, k, step, axis):
    """Adjoint of :func:`_sum_kernel_rows`: a new array of ``shape`` whose positions
    ``o*step + i`` (i < k) along ``axis`` receive ``small[o]``, added where windows overlap."""
    count = small.shape[axis]
    exact = step == k and count * k == shape[axis]  # every position in exactly one window
    large = (workspace.empty if exact else workspace.zeros)(shape, small.dtype)
    target, source = (large, small) if axis == 1 else (large.swapaxes(1, 2), small.swapaxes(1, 2))
    for i in range(k):
        index = (slice(None), axis_offset_slice(i, step, count))
        if exact:
            target[index] = source
        else:
            target[index] += source
    return large
