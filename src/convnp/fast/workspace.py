"""The engine's workspace: large work arrays reused from one training step to the next.

Why: every training step allocates the same multi-MB arrays (layer outputs, window matrices,
gradients) and frees them again. glibc hands freed blocks at the top of its heap back to the
kernel, so the next step page-faults them in again, zero-filled, and a sizeable part of a
step goes to kernel time (docs/performance.md, "Workspace (allocator)"). PyTorch's GPU
allocator caches blocks for the same reason. Only the engine uses it; the textbook allocates
with plain NumPy.

How it stays safe: the workspace owns blocks of memory. :func:`empty` lends one out as a fresh
array (``np.frombuffer`` over the block), and a weak reference to that array tells the
workspace when it is gone — when no name, cache, view (a view holds the array it was made
from) or memoryview uses it any more. Only then does the block go back on the free list. A
result a user keeps therefore keeps its memory; the next request simply gets another block.

Fit: a request takes a free block of its size or, when there is none, the smallest free block up
to ``FIT_RATIO`` times larger; otherwise a new block.

Bounds: arrays smaller than ``MIN_BYTES`` come from ``np.empty`` (NumPy and malloc handle them
well). Of blocks nobody uses, the workspace keeps at most ``MAX_FREE_BYTES`` or, when more, as
many bytes as it has seen lent out at once, up to ``MAX_PEAK_BYTES``: a step that needs 200 MB
at its peak gets them back next step (docs/performance.md, "Workspace (allocator)"). Older ones
are released when a new block is made, and :func:`clear` releases them all. One workspace
serves every thread (the engine's worker threads, :mod:`.parallel`, take their parts' arrays
from it too): a lock guards its free list, so a block is lent to one array at a time, and a
block freed by one thread serves the next request of any (one workspace per thread kept free
blocks the other thread could have used; docs/performance.md, "Threads").
"""

from __future__ import annotations

import bisect
import math
import threading
import weakref
from collections import OrderedDict, defaultdict, deque

import numpy as np

MIN_BYTES = 128 * 2**10  # glibc's default mmap threshold: smaller blocks are reused by malloc itself
MAX_FREE_BYTES = 64 * 2**20  # free blocks kept beyond this (or the peak lent out) are released, oldest first
MAX_PEAK_BYTES = 512 * 2**20  # ... but never more than this, however large a step was
FIT_RATIO = 1.5  # with no free block of a request's size, a free one up to this much larger serves it


class Workspace:
    """Blocks of memory lent out as arrays and taken back when the array is gone.

    ``lock`` guards the free list and the counts. The weak references' callbacks, which run
    wherever and whenever an array dies (even inside a garbage collection started by an
    allocation made while the lock is held), take no lock: they only move the block to
    ``returned``, atomic steps, so they cannot deadlock.
    """

    def __init__(self):
        self.lock = threading.Lock()
        self.free = OrderedDict()  # id(block) -> block, least recently returned first
        self.free_by_size = defaultdict(list)  # nbytes -> free blocks of that size, most recent last
        self.sizes = []  # the keys of free_by_size, sorted
        self.lent = {}  # id(weak reference to a lent array) -> (the reference, its block)
        self.returned = deque()  # blocks whose arrays are gone, not yet back on the free list
        self.lent_bytes = self.free_bytes = self.peak_lent = 0

    def lend(self, shape, dtype) -> np.ndarray:
        """A C-contiguous array over a free block of its size, or of up to ``FIT_RATIO`` times
        its size, or a new block."""
        with self.lock:
            return self._lend(shape, dtype)

    def _lend(self, shape, dtype) -> np.ndarray:
        self._take_back()
        nbytes = math.prod(shape) * dtype.itemsize
        block = self._free_block(nbytes)
        if block is None:
            self._trim()
            block = np.empty(nbytes, np.uint8)
        self.lent_bytes += block.nbytes
        self.peak_lent = max(self.peak_lent, self.lent_bytes)
        # Over a memoryview, not the block itself: then views of this array keep *it* alive (NumPy
        # makes a view's base the array it came from unless that one's base is an array too).
        array = np.frombuffer(memoryview(block)[:nbytes], dtype=dtype)
        reference = weakref.ref(array, self._returned)
        self.lent[id(reference)] = (reference, block)
        return array.reshape(shape)

    def _free_block(self, nbytes: int) -> np.ndarray | None:
        """Take a free block for ``nbytes``: one of exactly that size, else the smallest one up to
        ``FIT_RATIO`` times larger (the array uses the front of it), else None.

        Without the larger ones, a step's arrays of sizes not free just then got new blocks
        while the free ones sat idle: a deep-cnn step held 1.5x the memory it had lent out
        (docs/performance.md, "Workspace (allocator)")."""
        size = nbytes
        if size not in self.free_by_size:
            at = bisect.bisect_left(self.sizes, nbytes)
            if at == len(self.sizes) or self.sizes[at] > nbytes * FIT_RATIO:
                return None
            size = self.sizes[at]
        block = self._unlist(size, -1)  # the most recently returned of its size: likeliest in cache
        del self.free[id(block)]
        return block

    def _unlist(self, size: int, at: int) -> np.ndarray:
        """Take block ``at`` off the list of free blocks of ``size`` bytes (the caller takes it
        out of ``free`` too). Both keep the blocks in the order they came back."""
        same_size = self.free_by_size[size]
        block = same_size.pop(at)
        if not same_size:
            del self.free_by_size[size]
            self.sizes.remove(size)
        self.free_bytes -= size
        return block

    def _returned(self, reference) -> None:
        entry = self.lent.pop(id(reference), None)
        if entry is not None:  # None: lent before clear(), released with it
            self.returned.append(entry[1])

    def _take_back(self) -> None:
        """Put returned blocks on the free list."""
        while self.returned:
            block = self.returned.popleft()
            self.lent_bytes -= block.nbytes
            self.free[id(block)] = block
            if block.nbytes not in self.free_by_size:
                bisect.insort(self.sizes, block.nbytes)
            self.free_by_size[block.nbytes].append(block)
            self.free_bytes += block.nbytes

    def _trim(self) -> None:
        """Release the oldest free blocks beyond the budget. Run only before a new block is made:
        when a step's arrays come back all at once (a forward pass drops the last one's caches),
        they are the blocks the step is about to ask for again."""
        budget = max(MAX_FREE_BYTES, min(self.peak_lent, MAX_PEAK_BYTES))
        while self.free_bytes > budget:
            _, oldest = self.free.popitem(last=False)
            self._unlist(oldest.nbytes, 0)  # the oldest of all is the oldest of its size

    def clear(self) -> None:
        """Release every free block and forget the lent ones (they are freed with their arrays)."""
        with self.lock:
            self._clear()

    def _clear(self) -> None:
        self.free.clear()
        self.free_by_size.clear()
        self.sizes.clear()
        self.lent.clear()  # the references go, so their callbacks never run
        self.returned.clear()
        self.lent_bytes = self.free_bytes = self.peak_lent = 0


_shared = Workspace()


def current() -> Workspace:
    """The workspace (one for every thread)."""
    return _shared


def empty(shape, dtype) -> np.ndarray:
    """A C-contiguous array of ``shape`` and ``dtype`` with undefined contents, like ``np.empty``,
    over memory recycled from an earlier step when a block of that size is free."""
    dtype = np.dtype(dtype)
    shape = tuple(map(int, shape)) if isinstance(shape, (tuple, list)) else (int(shape),)
    if min(shape, default=1) < 0 or dtype.itemsize * math.prod(shape) < MIN_BYTES:
        return np.empty(shape, dtype)  # and NumPy's own error for a negative size
    return current().lend(shape, dtype)


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
    if x.size * dtype.itemsize < MIN_BYTES:
        return np.empty_like(x, dtype=dtype)  # keeps x's axis order too
    if x.flags.c_contiguous:
        return empty(x.shape, dtype)
    if x.ndim == 4 and x.transpose(0, 2, 3, 1).flags.c_contiguous:  # NCHW view of channels-last
        n, c, h, w = x.shape
        return empty((n, h, w, c), dtype).transpose(0, 3, 1, 2)
    order = sorted(range(x.ndim), key=lambda axis: -abs(x.strides[axis]))  # outermost axis first
    memory = empty(tuple(x.shape[axis] for axis in order), dtype)
    return memory.transpose(np.argsort(order))  # a view with x's axis order


def clear() -> None:
    """Release every block the workspace keeps (arrays still in use keep theirs)."""
    _shared.clear()
