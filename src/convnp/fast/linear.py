"""Linear forward and backward on the engine's threads; backward skips what nobody needs (no
``dx`` for a first layer) and writes ``dW`` in place.

Twins of :func:`convnp.functional.linear_forward` and :func:`convnp.functional.linear_backward`
(same numbers: every product is split into row blocks of its result, :func:`.parallel.matmul`).
"""

from __future__ import annotations

from .parallel import matmul


def linear_forward(x, weight, bias=None):
    """``y = x @ W.T + b``, (N, in) -> (N, out).

    Twin of :func:`convnp.functional.linear_forward` (same numbers); faster because the images'
    rows are multiplied on the engine's threads.
    """
    y = matmul(x, weight.T)  # (N, out)
    if bias is not None:
        y += bias
    return y


def linear_backward(dy, x, weight, has_bias=True, need_input_grad=True, dweight_out=None):
    """Gradients of :func:`linear_forward`.

    Twin of :func:`convnp.functional.linear_backward` (same numbers); faster because it can skip
    ``dx``, writes ``dW`` straight into the gradient array and multiplies on the engine's threads.

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
    dx = matmul(dy, weight) if need_input_grad else None  # (N, in)
    dweight = matmul(dy.T, x, out=dweight_out)  # (out, in), rows split by output feature
    dbias = dy.sum(axis=0) if has_bias else None
    return dx, dweight, dbias
