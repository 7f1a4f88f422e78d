"""Fully connected (affine) layer math: ``y = x @ W.T + b``, W of shape (out, in) as in torch."""

from __future__ import annotations


def linear_forward(x, weight, bias=None):
    """Affine map.

    Parameters
    ----------
    x : ndarray, shape (N, in_features)
    weight : ndarray, shape (out_features, in_features)
    bias : ndarray, shape (out_features,), or None

    Returns
    -------
    y : ndarray, shape (N, out_features)
    """
    y = x @ weight.T  # (N, out)
    if bias is not None:
        y += bias
    return y


def linear_backward(dy, x, weight, has_bias=True):
    """Gradients of :func:`linear_forward`: ``dx = dy @ W``, ``dW = dy.T @ x``, ``db = sum_n dy[n]``.

    The engine's twin, with the same numbers: :func:`convnp.fast.linear_backward`.

    Returns
    -------
    dx : ndarray (N, in), dweight : ndarray (out, in), dbias : ndarray (out,) or None
    """
    dx = dy @ weight  # (N, in)
    dweight = dy.T @ x  # (out, in)
    dbias = dy.sum(axis=0) if has_bias else None  # (out,)
    return dx, dweight, dbias
