"""Reuse of large work arrays from one training step to the next (a tiny caching allocator).

Why: every training step allocates the same multi-MB arrays (layer outputs, window matrices,
gradients) and frees them again. glibc hands freed blocks at the top of its heap back to the
kernel, so the next step page-faults them in again, zero-filled, and a sizeable part of a
step goes to kernel time (docs/performance.md, "Workspace (allocator)"). PyTorch's GPU
allocator caches blocks for the same reason.

How it stays safe: :func:`empty` hands an array out again only when *nothing outside this
pool refers to it* — no name, no cache, no view (a view holds its base), no memoryview. Its
reference count says so exactly, so a result a user keeps is never overwritten; the pool then
simply allocates a fresh array. Where reference counts cannot be trusted (an interpreter other
than CPython), reuse is switched off and :func:`empty` is ``np.empty``.

Bounds: arrays smaller than ``MIN_BYTES`` are not pooled (NumPy and malloc handle them well).
Of arrays nobody uses, the pool keeps at most ``MAX_FREE_BYTES`` or, when more, as many bytes as
it has seen in use at once, up to ``MAX_PEAK_BYTES``: a step that needs 200 MB at its peak gets
them back next step (a fixed 64 MiB left large-batch steps page-faulting:
docs/performance.md, "Workspace (allocator)"). Older ones are released, and
:func:`clear` releases them all. The pool is per thread, so two threads never receive the same
array.
"""

from __future__ import annotations

import math
import sys
import threading

import numpy as np

MIN_BYTES = 128 * 2**10  # glibc's default mmap threshold: smaller blocks are reused by malloc itself
MAX_FREE_BYTES = 64 * 2**20  # free arrays kept beyond this (or the peak in use) are released, oldest first
MAX_PEAK_BYTES = 512 * 2**20  # ... but never more than this, however large a step was
MAX_ENTRIES = 64  # arrays tracked at most (those in use elsewhere are forgotten, oldest first)


def _count(entries: list, k: int) -> int:
    return sys.getrefcount(entries[k])


def _calibrate() -> int | None:
    """The count :func:`_count` gives for an array only the pool holds; None when reference
    counts do not behave as CPython's (then nothing is ever reused)."""
    if not hasattr(sys, "getrefcount"):
        return None
    held = np.empty(1)
    entries = [np.empty(1), held]
    alone, shared = _count(entries, 0), _count(entries, 1)
    return alone if shared == alone + 1 else None


_FREE_REFCOUNT = _calibrate()


class _Pool(threading.local):
    def __init__(self):
        self.entries: list[np.ndarray] = []  # least recently handed out first
        self.peak_in_use = 0  # the most bytes of tracked arrays seen in use at once
        self.enabled = _FREE_REFCOUNT is not None


_pool = _Pool()


def _is_free(entries: list, k: int) -> bool:
    """True when nothing but the pool refers to ``entries[k]`` (no name, view, cache)."""
    return _count(entries, k) == _FREE_REFCOUNT


def empty(shape, dtype) -> np.ndarray:
    """A C-contiguous array of ``shape`` and ``dtype`` with undefined contents, like ``np.empty``,
    recycled from an earlier step when one of that shape is no longer used anywhere."""
    dtype = np.dtype(dtype)
    if dtype.itemsize * math.prod(shape) < MIN_BYTES or not _pool.enabled:
        return np.empty(shape, dtype)
    shape = tuple(map(int, shape))
    entries = _pool.entries
    for k in range(len(entries) - 1, -1, -1):  # most recently used first: likeliest still in cache
        if entries[k].shape == shape and entries[k].dtype == dtype and _is_free(entries, k):
            entries.append(entries.pop(k))
            return entries[-1]
    array = np.empty(shape, dtype)
    entries.append(array)
    _release_old(entries)
    return array


def zeros(shape, dtype) -> np.ndarray:
    """Like ``np.zeros``, from :func:`empty` (filling recycled memory beats page-faulting new memory)."""
    array = empty(shape, dtype)
    array.fill(0)
    return array


def empty_like(x: np.ndarray, dtype=None) -> np.ndarray:
    """An array shaped like ``x`` whose memory is laid out in the same axis order as ``x``'s
    (an NCHW view of channels-last memory gets another one), so elementwise passes over both
    stream through memory in step."""
    dtype = np.dtype(x.dtype if dtype is None else dtype)
    if x.size * dtype.itemsize < MIN_BYTES or not _pool.enabled:
        return np.empty_like(x, dtype=dtype)  # keeps x's axis order too
    if x.flags.c_contiguous:
        return empty(x.shape, dtype)
    if x.ndim == 4 and x.transpose(0, 2, 3, 1).flags.c_contiguous:  # NCHW view of channels-last
        n, c, h, w = x.shape
        return empty((n, h, w, c), dtype).transpose(0, 3, 1, 2)
    order = sorted(range(x.ndim), key=lambda axis: -abs(x.strides[axis]))  # outermost axis first
    memory = empty([x.shape[axis] for axis in order], dtype)
    return memory.transpose(np.argsort(order))  # a view with x's axis order


def _release_old(entries: list) -> None:
    """Forget the oldest free arrays beyond the budget: MAX_FREE_BYTES, or the most bytes the
    pool has seen in use at once (at most MAX_PEAK_BYTES) if that is more."""
    free = [_is_free(entries, k) for k in range(len(entries))]
    in_use = sum(array.nbytes for array, is_free in zip(entries, free, strict=True) if not is_free)
    _pool.peak_in_use = max(_pool.peak_in_use, in_use)
    budget, free_bytes = max(MAX_FREE_BYTES, min(_pool.peak_in_use, MAX_PEAK_BYTES)), 0
    for k in range(len(entries) - 1, -1, -1):  # newest first: the oldest go beyond the budget
        if not free[k]:
            continue
        if free_bytes + entries[k].nbytes > budget:
            del entries[k]
        else:
            free_bytes += entries[k].nbytes
    # arrays still in use are forgotten once there are many: the pool must not grow without bound
    while len(entries) > MAX_ENTRIES:
        del entries[0]


def clear() -> None:
    """Release every array the pool keeps (those still in use elsewhere stay alive there)."""
    _pool.entries.clear()
    _pool.peak_in_use = 0
