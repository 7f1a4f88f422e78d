"""Run a batch-wise NumPy kernel on several cores: one slice of the batch per thread.

NumPy's elementwise operations and copies run on one core, while BLAS (the GEMMs) uses all of
them; on a 2-core machine the elementwise passes of a training step (ReLU, pooling, padding
and window copies) take more than half of its time (benchmarks/RESULTS.md). NumPy releases the
GIL inside those loops, so Python threads that each work on their own slice of the batch run
them on separate cores. Images of a batch never interact in these kernels, so the slices are
independent and the result is bit-for-bit the one a single thread computes.

Small arrays stay on the calling thread: handing work to another thread costs tens of
microseconds. ``CONVNP_NUM_THREADS`` (default: the CPUs this process may use, at most 8) sets
the number of threads; 1 turns the splitting off.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

MIN_BYTES_PER_THREAD = 512 * 1024  # below this much data per thread the hand-off costs more than it saves

_state = threading.local()  # .inside: this thread is running a kernel's slice already
_lock = threading.Lock()
_pools: dict[tuple[int, int], ThreadPoolExecutor] = {}


def num_threads() -> int:
    """Threads the batch-wise kernels use: ``CONVNP_NUM_THREADS``, else the usable CPUs (≤ 8)."""
    value = os.environ.get("CONVNP_NUM_THREADS")
    if value is not None:
        try:
            return max(1, int(value))
        except ValueError:
            raise ValueError(f"CONVNP_NUM_THREADS must be a whole number, got {value!r}") from None
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 8))


def _pool(workers: int) -> ThreadPoolExecutor:
    """A pool of ``workers`` threads for this process (a forked child makes its own)."""
    key = (os.getpid(), workers)
    with _lock:
        if key not in _pools:
            _pools[key] = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="convnp")
        return _pools[key]


def over_batch(kernel, batch_size: int, nbytes: int) -> None:
    """Call ``kernel(batch_slice)`` on slices that together cover ``range(batch_size)``.

    Parameters
    ----------
    kernel : callable(slice) -> None
        Does the work for the images in the slice (writing into preallocated outputs); it
        must touch no image outside its slice.
    batch_size : int
        N, the number of images.
    nbytes : int
        About how much memory the work streams through; decides whether threads pay off.
    """
    threads = min(num_threads(), batch_size, max(1, nbytes // MIN_BYTES_PER_THREAD))
    if threads < 2 or getattr(_state, "inside", False):  # nested calls stay on their thread
        kernel(slice(0, batch_size))
        return
    bounds = [batch_size * k // threads for k in range(threads + 1)]
    slices = [slice(start, stop) for start, stop in zip(bounds[:-1], bounds[1:], strict=True)]
    futures = [_pool(threads - 1).submit(_run_inside, kernel, part) for part in slices[1:]]
    _run_inside(kernel, slices[0])
    for future in futures:
        future.result()  # re-raises a worker's exception here


def _run_inside(kernel, part: slice) -> None:
    _state.inside = True
    try:
        kernel(part)
    finally:
        _state.inside = False
