"""Matrix products cut into row blocks small enough for OpenBLAS's small-matrix kernels.

Why: before it multiplies, OpenBLAS packs both operands into its own tiled layout. A
convolution's products have a long, thin left operand (a window matrix: tens of thousands of
rows) and a narrow right one (16-64 filters), and with so few output columns the packing costs
about as much as the multiplying (docs/performance.md, "GEMM bound"). OpenBLAS's kernels for
AVX-512 cores (SkylakeX, Cooperlake, SapphireRapids) run a product of at most ``SMALL_MACS``
multiply-adds (M*N*K) directly on the operands, unpacked. So :func:`product_into` cuts the
left operand into blocks of ``b`` rows, ``b*K*N <= SMALL_MACS``, and multiplies the stack of
blocks in one ``matmul``: measured on one thread, the convolutions' shapes run 1.1-1.5x faster,
on both threads side by side 1.3x. A sum over rows (a weight gradient, :func:`rows_product`)
goes in blocks of 128-256 rows whose small products are then added. Elsewhere (the Haswell
kernels of AVX2 cores) each block would pay the packing again: 0.6-0.98x (docs/performance.md,
"Small-matrix kernels").

When: only while BLAS runs on one thread (a part of a threaded step, a worker process, or BLAS
set to one thread): one product on two BLAS threads beats two small-kernel halves run one after
the other. :func:`stacking` says whether the rule holds now; tests force it either way with
:func:`.routes.force_conv_route` (``stacked``).

Numbers: each output number is the same dot product either way, but the small kernels may add
its terms in another order, and a sum over rows adds its blocks' sums: equal to the last bits,
as for any other split of the rows.
"""

from __future__ import annotations

import functools

import numpy as np

from . import parallel
from .routes import forced

SMALL_MACS = 10**6  # OpenBLAS's bound on M*N*K for its small-matrix kernels (these cores)
SMALL_KERNEL_CORES = frozenset({"skylakex", "cooperlake", "sapphirerapids"})
MIN_BLOCK_ROWS = 16  # narrower blocks: the per-call costs outweigh the packing saved
SUM_BLOCK_ROWS = (128, 256)  # a sum over rows (:func:`rows_product`) pays with blocks this tall


def stacking() -> bool:
    """Whether :func:`product_into` cuts products into blocks now (see the module docstring)."""
    choice = forced("stacked")
    if choice is not None:
        return choice
    return _small_kernels() and (parallel.blas_held() or parallel.blas_threads() == 1)


def product_into(lhs, rhs, out):
    """``out[...] = lhs @ rhs`` for 2-D arrays, in blocks of rows where :func:`stacking`.

    Parameters
    ----------
    lhs : ndarray, shape (M, K), any strides (a transposed view too)
    rhs : ndarray, shape (K, N); copied C-contiguous when blocks are used (the small kernels'
        fast case; a transposed view runs slower)
    out : ndarray, shape (M, N), C-contiguous rows

    Returns
    -------
    out
    """
    rows, depth = lhs.shape
    columns = rhs.shape[1]
    block = min(rows, SMALL_MACS // max(1, depth * columns))
    if block < MIN_BLOCK_ROWS or not stacking():
        return np.matmul(lhs, rhs, out=out)
    rhs = np.ascontiguousarray(rhs)
    whole = rows // block * block
    # Splitting the row axis is always a view, so the stacks write into ``out`` itself.
    np.matmul(lhs[:whole].reshape(-1, block, depth), rhs,
              out=out[:whole].reshape(-1, block, columns))  # (M/b, b, K) @ (K, N) -> (M/b, b, N)
    if whole < rows:
        np.matmul(lhs[whole:], rhs, out=out[whole:])  # the last rows, fewer than a block
    return out


def rows_product(a, b):
    """``a.T @ b`` for 2-D arrays with the same rows: a sum over the rows (a weight gradient),
    in blocks of rows where :func:`stacking`, the blocks' (L, R) products then added up.

    Parameters
    ----------
    a : ndarray, shape (M, L)
    b : ndarray, shape (M, R)

    Returns
    -------
    ndarray, shape (L, R), a new array
    """
    rows, left = a.shape
    right = b.shape[1]
    low, high = SUM_BLOCK_ROWS
    block = min(high, rows, SMALL_MACS // max(1, left * right))
    if block < low or not stacking():
        return a.T @ b
    whole = rows // block * block
    blocks = np.matmul(a[:whole].reshape(-1, block, left).transpose(0, 2, 1),
                       b[:whole].reshape(-1, block, right))  # (M/b, L, b) @ (M/b, b, R) -> (M/b, L, R)
    total = blocks.sum(axis=0)  # (L, R)
    if whole < rows:
        total += a[whole:].T @ b[whole:]
    return total


@functools.cache
def _small_kernels() -> bool:
    """Whether the OpenBLAS that NumPy loaded runs on a core with small-matrix kernels."""
    return (parallel.blas_core() or "").lower() in SMALL_KERNEL_CORES
