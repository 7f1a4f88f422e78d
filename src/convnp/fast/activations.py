"""ReLU and tanh forward and backward, tuned: SIMD-friendly maximum, a bit-mask select, passes
in cache-sized pieces, reused arrays.

Twins of :func:`convnp.functional.relu`, :func:`convnp.functional.relu_backward`,
:func:`convnp.functional.tanh` and :func:`convnp.functional.tanh_backward` (same numbers, NaN
and inf included); the other activations are fast enough as the textbook writes them and the
engine uses those.
"""

from __future__ import annotations

import functools

import numpy as np

from . import workspace

ZEROS_CHUNK = 2**16  # elements per np.maximum call in relu: the zeros stay in cache
PIECE = 2**15  # elements per piece of tanh_backward: its temporary stays in L1/L2 cache


def relu(x):
    """``max(x, 0)``.

    Twin of :func:`convnp.functional.relu` (same numbers); faster because the maximum runs against a
    cached array of zeros (NumPy's SIMD loop) into a reused array.

    Against a scalar 0, NumPy's ``maximum`` runs a plain element loop; against an array of
    zeros, its SIMD loop, over twice as fast (docs/performance.md, "ReLU"). So the zeros come
    as one small array, reused for each chunk of ``x``'s memory.
    """
    y = workspace.empty_like(x)  # same memory layout as x
    flat_x, flat_y = _memory_order_flat(x), _memory_order_flat(y)
    if flat_x is None:  # x is not one block of memory (a strided view): the plain loop
        return np.maximum(x, 0, out=y)
    _maximum_with_zeros(flat_x, flat_y)
    return y


def relu_inplace(a):
    """``a[...] = max(a, 0)`` for an array that is one block of memory in some axis order (e.g. a
    piece of a convolution's output while it is still in cache, or an NCHW view of channels-last
    memory). Returns ``a``."""
    flat = _memory_order_flat(a)
    if flat is None:  # reshape would copy, and the ReLU would silently go nowhere
        raise ValueError(f"relu_inplace: expected an array that is one block of memory, got shape "
                         f"{a.shape} with strides {a.strides}")
    _maximum_with_zeros(flat, flat)
    return a


def _maximum_with_zeros(flat_x, flat_y):
    """``flat_y[:] = max(flat_x, 0)`` for 1-D arrays, chunk by chunk against cached zeros."""
    zeros = _zeros(ZEROS_CHUNK, flat_x.dtype)
    for start in range(0, flat_x.size, ZEROS_CHUNK):
        stop = min(start + ZEROS_CHUNK, flat_x.size)
        np.maximum(flat_x[start:stop], zeros[:stop - start], out=flat_y[start:stop])


@functools.lru_cache(maxsize=8)
def _zeros(size, dtype):
    """A read-only array of zeros, made once per size and dtype (a fresh 256 KB one would be
    page-faulted in on every call)."""
    zeros = np.zeros(size, dtype)
    zeros.flags.writeable = False
    return zeros


def _memory_order_flat(a):
    """A 1-D view of ``a``'s elements in memory order, or None when they are not one
    contiguous block (``empty_like`` arrays share the order, so the views match up)."""
    order = sorted(range(a.ndim), key=lambda axis: -a.strides[axis])  # outermost axis first
    in_memory_order = a.transpose(order)
    return in_memory_order.reshape(-1) if in_memory_order.flags.c_contiguous else None


def relu_backward(dy, y):
    """``0 if y <= 0 else dy``, torch's rule (the subgradient at 0 is 0; where ``y <= 0`` even an
    inf or NaN ``dy`` gives 0, and a NaN ``y`` passes ``dy`` on). ``y`` may be relu's input or
    its output: they are positive at the same places.

    Twin of :func:`convnp.functional.relu_backward` (same numbers); faster because it selects with
    a bit-mask AND instead of ``np.where``, into a reused array.

    The select is a bitwise AND of ``dy``'s bits with a mask of all-ones or all-zeros words: the
    speed of a multiply by 0/1 (which would turn inf * 0 into NaN), 8x faster than ``np.where``
    (docs/performance.md, "ReLU").
    """
    dtype = np.result_type(dy, y)
    words = np.dtype(f"i{dtype.itemsize}")
    dx = workspace.empty_like(y, dtype)  # (y's memory layout)
    stop = np.less_equal(y, 0, out=workspace.empty_like(y, bool))
    if dy.dtype != dtype or dy.strides != dx.strides:  # e.g. an NCHW dy for a channels-last y:
        np.copyto(dx, dy)  # bring it into y's layout first; mixed layouts run 5x slower
        dy, keep = dx, workspace.empty_like(y, words)
    else:
        keep = dx.view(words)  # the mask words are built where the result goes: no extra array
    np.subtract(stop.view(np.int8), 1, out=keep, casting="unsafe")  # -1 (all bits set) or 0
    return np.bitwise_and(dy.view(words), keep, out=dx.view(words)).view(dtype)


def tanh(x):
    """``tanh(x)``.

    Twin of :func:`convnp.functional.tanh` (same numbers); faster because the result goes into
    a reused array in ``x``'s memory layout: a fresh multi-MB array is page-faulted in, zero-filled,
    on every call (docs/performance.md, "Workspace (allocator)").
    """
    return np.tanh(x, out=workspace.empty_like(x))


def tanh_backward(dy, y):
    """``dy * (1 - y**2)`` with ``y = tanh(x)``.

    Twin of :func:`convnp.functional.tanh_backward` (same numbers, the same operations in the
    same order); faster because it runs piece by piece: ``1 - y*y`` lives in a cache-sized
    temporary, so memory sees one read of ``y`` and ``dy`` and one write of the result, where
    three whole-array passes read and write twice as much (docs/performance.md, "Tanh").
    """
    dtype = np.result_type(dy, y)
    dx = workspace.empty_like(y, dtype)  # (y's memory layout)
    if dy.dtype != dtype or dy.strides != dx.strides:
        np.copyto(dx, dy)  # bring dy into y's layout and the result's dtype: the pieces line up
        dy = dx
    flat_y = _memory_order_flat(y)
    if flat_y is None:  # y is not one block of memory (a strided view): whole-array passes
        return np.multiply(dy, 1 - y * y, out=dx)
    flat_dy, flat_dx = _memory_order_flat(dy), _memory_order_flat(dx)  # dy and dx: y's layout
    slope = np.empty(min(PIECE, y.size), y.dtype)  # 1 - y*y in y's dtype, as the textbook computes it
    for start in range(0, y.size, PIECE):
        piece, part = slice(start, min(start + PIECE, y.size)), slope[:min(PIECE, y.size - start)]
        np.multiply(flat_y[piece], flat_y[piece], out=part)
        np.subtract(1, part, out=part)
        np.multiply(flat_dy[piece], part, out=flat_dx[piece])
    return dx
