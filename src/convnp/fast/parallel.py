"""The engine's threads: a batch split into parts of whole images, the parts run side by side.

Why: NumPy runs each elementwise pass, copy and reduction on one core; only its matrix
products (BLAS) use more. Measured on a 2-core machine, a cifar-resnet14 training step of
convnp used 0.36 CPU-seconds with single-threaded BLAS, PyTorch's 0.39 with its two threads —
the same work, but PyTorch spreads all of it over both cores and convnp only its GEMMs
(docs/performance.md, "Threads"). NumPy lets go of the interpreter lock inside every large
ufunc, copy and BLAS call, so Python threads that each take some of the images do run at once.

How: :func:`image_parts` cuts the N images of a batch into at most :func:`get_num_threads`
contiguous parts, and :func:`run_parts` runs a function on each — the calling thread takes
the first part, a small pool the others. While parts run, BLAS is told to use one thread
(each part's products are already one thread's worth); afterwards it gets its count back.
Where BLAS cannot be told (no OpenBLAS found), parts that multiply matrices run one after the
other instead, which is what one thread would do.

Numbers: a part computes exactly what the whole batch computes for its images; sums over the
batch (a weight gradient, BatchNorm's statistics) add the parts' sums in part order. So the
results do not depend on which thread ran what, and with one part they are the serial ones.

Settings: ``CONVNP_NUM_THREADS`` in the environment, or :func:`set_num_threads`; the default
is the number of cores this process may run on.
"""

from __future__ import annotations

import ctypes
import functools
import os
import re
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager, nullcontext
from typing import NamedTuple

import numpy as np

from .._checks import environment_count, positive_int

ENV_VAR = "CONVNP_NUM_THREADS"
PART_MIN_MACS = 30e6  # work is split when each part gets this many multiply-adds (a conv counts its copies)
_blas_depth = [0]  # nesting of single_threaded_blas blocks
_splits = [0]  # run_parts calls that ran more than one part, so far

_forced = {"every_batch": False}
_state = threading.local()  # .in_part: True inside a part (parts never split again)
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def available_cores() -> int:
    """The number of cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


_threads = environment_count(ENV_VAR, "the number of threads", available_cores())


def get_num_threads() -> int:
    """How many threads the engine's layers use (``CONVNP_NUM_THREADS``, else the cores)."""
    return _threads


def set_num_threads(count: int) -> int:
    """Use ``count`` threads from now on (1: everything on the calling thread); returns the
    previous count, so ``previous = set_num_threads(1); ...; set_num_threads(previous)``."""
    global _threads, _pool
    count = positive_int(count, "the number of threads", "set_num_threads")
    previous, _threads = _threads, count
    with _pool_lock:
        if _pool is not None and count != previous:
            _pool.shutdown(wait=False)
            _pool = None
    return previous


@contextmanager
def force_threads(count: int, every_batch: bool = False):
    """Run the engine on ``count`` threads inside the ``with`` block (a test hook).

    ``every_batch``: split every batch of two or more images, however little work its parts get
    (normally a part must be worth a thread's start-up), so small test shapes take the
    threaded code."""
    previous = set_num_threads(count)
    saved, _forced["every_batch"] = _forced["every_batch"], bool(every_batch)
    try:
        yield
    finally:
        _forced["every_batch"] = saved
        set_num_threads(previous)


def image_parts(n: int, work_per_image: float, min_work: float) -> list[slice]:
    """Split images ``0..n`` into contiguous parts, one per thread, none with less than
    ``min_work`` (in the caller's unit: multiply-adds, bytes) — one part when the batch is small
    or the engine has one thread."""
    if _threads == 1 or getattr(_state, "in_part", False) or n < 2:
        return [slice(0, n)]
    worth = n if _forced["every_batch"] else max(1.0, n * work_per_image / min_work)
    count = int(min(_threads, n, worth))
    bounds = [n * k // count for k in range(count + 1)]
    return [slice(bounds[k], bounds[k + 1]) for k in range(count)]


def run_parts(function, parts: list[slice], uses_blas: bool = True) -> list:
    """``[function(part) for part in parts]``, the parts side by side on the engine's threads.

    ``uses_blas``: the parts multiply matrices, so BLAS runs single-threaded meanwhile (and the
    parts run one after the other where that cannot be arranged).
    """
    if len(parts) == 1:
        return [function(parts[0])]
    if uses_blas and _blas_threads() is None:
        return [_in_part(function, part) for part in parts]
    _splits[0] += 1
    with single_threaded_blas() if uses_blas else nullcontext():
        futures = [_executor().submit(_in_part, function, part) for part in parts[1:]]
        try:
            first = _in_part(function, parts[0])
        finally:
            wait(futures)  # no part still running once this returns or raises
        return [first] + [future.result() for future in futures]


@contextmanager
def as_part(uses_blas: bool = True):
    """Run the ``with`` block as one part of a batch whose other parts run elsewhere (in worker
    processes, :mod:`.processes`): layers inside do not split it again, and BLAS runs on one
    thread (the other cores are the other parts')."""
    saved = getattr(_state, "in_part", False)
    _state.in_part = True
    try:
        with single_threaded_blas() if uses_blas else nullcontext():
            yield
    finally:
        _state.in_part = saved


def split_count() -> int:
    """How many times work ran in several parts so far (``Sequential`` asks whether its last
    step did, to decide whether to hold BLAS on one thread for the next)."""
    return _splits[0]


def blas_threads() -> int | None:
    """The number of threads OpenBLAS uses now, or None where it was not found (a test hook)."""
    blas = _blas_threads()
    return None if blas is None else int(blas.get())


def blas_core() -> str | None:
    """The name of the core whose kernels OpenBLAS runs (``"SkylakeX"``, ``"Haswell"``, ...), or
    None where OpenBLAS (or that function) was not found."""
    blas = _blas_threads()
    if blas is None or blas.core is None:
        return None
    return blas.core().decode("ascii", "replace")


def blas_held() -> bool:
    """Whether BLAS is held on one thread now by :func:`single_threaded_blas` (several engine
    threads, OpenBLAS found): a product that does not split into parts runs on one core."""
    return _threads > 1 and _blas_depth[0] > 0 and _blas_threads() is not None


@contextmanager
def single_threaded_blas():
    """BLAS on one thread inside the ``with`` block (nested blocks: the outermost one counts),
    when the engine runs on several threads and OpenBLAS was found; else nothing changes.

    ``Sequential`` runs its whole forward and backward pass in one such block when its layers
    split their work into parts (its last step did), and the layers split their products
    themselves. Switching back and forth around each layer costs more than it saves: after a
    multi-threaded product, OpenBLAS's workers keep spinning on the other cores for a while
    (0.1 s by default), the cores the next parts need. A model whose layers are all too small
    to split keeps multi-threaded BLAS.
    """
    blas = _blas_threads() if _threads > 1 and _blas_depth[0] == 0 else None
    saved = blas.get() if blas else None
    if blas:
        blas.set(1)
    _blas_depth[0] += 1
    try:
        yield
    finally:
        _blas_depth[0] -= 1
        if blas:
            blas.set(saved)


def matmul(a, b, out=None):
    """``a @ b`` for 2-D arrays, the rows of ``a`` split over the engine's threads when the product
    is large: each part is a block of rows of the result, each number the same dot product (BLAS
    may order its terms differently for another number of rows: equal up to the last bit)."""
    if out is None:
        out = np.empty((a.shape[0], b.shape[1]), np.result_type(a, b))
    parts = image_parts(a.shape[0], b.shape[0] * b.shape[1], PART_MIN_MACS)
    run_parts(lambda rows: np.matmul(a[rows], b, out=out[rows]), parts)
    return out


def _in_part(function, part):
    with as_part(uses_blas=False):  # run_parts holds BLAS itself
        return function(part)


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=max(1, _threads - 1), thread_name_prefix="convnp")
        return _pool


def _forget_pool_in_child():  # a forked child has the pool object but not its threads
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_in_child)


class _BlasThreads(NamedTuple):
    """OpenBLAS's C functions that get and set its thread count and name the core whose kernels
    it chose (in the library NumPy loaded)."""

    get: object
    set: object
    core: object


@functools.cache
def _blas_threads() -> _BlasThreads | None:
    """OpenBLAS's thread control, found once among the libraries this process has loaded."""
    return _find_openblas()


def _find_openblas() -> _BlasThreads | None:
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted(set(re.findall(r"(/\S*openblas\S*\.so\S*)", maps.read())))
    except OSError:
        return None
    for path in paths:
        try:
            library = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix in ("scipy_openblas", "openblas"):
            for suffix in ("64_", ""):
                getter = getattr(library, f"{prefix}_get_num_threads{suffix}", None)
                setter = getattr(library, f"{prefix}_set_num_threads{suffix}", None)
                core = getattr(library, f"{prefix}_get_corename{suffix}", None)
                if getter is not None and setter is not None:
                    getter.restype, setter.argtypes = ctypes.c_int, [ctypes.c_int]
                    if core is not None:
                        core.restype, core.argtypes = ctypes.c_char_p, []
                    return _BlasThreads(getter, setter, core)
    return None
