"""Linear backward that skips what nobody needs: no ``dx`` for a first layer, ``dW`` written in place.

Twin of :func:`convnp.functional.linear_backward` (same numbers). Forward is the textbook's.
"""

from __future__ import annotations

import numpy as np


def linear_backward(dy, x, weight, has_bias=True, need_input_grad=True, dweight_out=None):
    """Gradients of :func:`linear_forward`.

    Twin of :func:`convnp.functional.linear_backward` (same numbers); faster because it can skip
    ``dx`` and write ``dW`` straight into the gradient array.

    ``dx = dy @ W``, ``dW = dy.T @ x``, ``db = sum_n dy[n]``.

    ``need_input_grad`` : bool
        False skips ``dx`` (a network's first layer: nothing consumes the data's gradient).
    ``dweight_out`` : ndarray (out, in), optional
        Where the GEMM writes ``dW`` (e.g. the weight's ``.grad``): a big layer's gradient is
        then not copied again (docs/performance.md, "Linear").

    Returns
    -------
    dx : ndarray (N, in) or None, dweight : ndarray (out, in), dbias : ndarray (out,) or None
    """
    if dweight_out is not None and dweight_out.shape != weight.shape:
        raise ValueError(f"linear_backward: dweight_out must have the weight's shape {weight.shape}, "
                         f"got {dweight_out.shape}")
    dx = dy @ weight if need_input_grad else None  # (N, in)
    dweight = np.matmul(dy.T, x, out=dweight_out)  # (out, in)
    dbias = dy.sum(axis=0) if has_bias else None
    return dx, dweight, dbias
