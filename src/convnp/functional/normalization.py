"""Batch normalisation, forward and backward (Ioffe & Szegedy, 2015), per channel on axis 1.

The input is (N, C) or (N, C, *spatial); the statistics of channel ``c`` are taken over every
axis except axis 1, i.e. over ``m = N * prod(spatial)`` values.

Training (batch statistics, biased variance)::

    mean = sum(x) / m                 var = sum((x - mean)**2) / m
    x_hat = (x - mean) / sqrt(var + eps)
    y = weight * x_hat + bias

    dbias = sum(dy)    dweight = sum(dy * x_hat)
    dx = weight / sqrt(var + eps) * (dy - dbias / m - x_hat * dweight / m)

The ``dx`` line is the chain rule through ``x_hat`` *and* through ``mean`` and ``var``, which
depend on every ``x`` of the channel. Evaluation uses fixed running statistics, so the layer is an
affine map per channel: ``dx = dy * weight / sqrt(running_var + eps)``.
"""

from __future__ import annotations

import numpy as np


def per_channel(values, ndim: int):
    """Reshape a (C,) vector to broadcast along axis 1 of an ``ndim``-d array: (1, C, 1, …)."""
    return values.reshape((1, -1) + (1,) * (ndim - 2))


def _by_channel(x):
    """View ``x`` (N, C, ...) as (N, C, L) so per-channel sums are one ``einsum``."""
    return x.reshape(x.shape[0], x.shape[1], -1)


def _channel_sum(a, b=None):
    """``sum(a)`` (or ``sum(a * b)``) per channel, (C,), in ``a``'s dtype.

    Summed per image first, then over the images in float64: one float32 running sum over all
    N*H*W values of a channel loses digits that the backward pass's ``dy - mean(dy) - ...``
    then magnifies (float32 ResNet gradients 100x farther from the float64 ones than torch's).
    """
    per_image = (np.einsum("ncl->nc", _by_channel(a)) if b is None else
                 np.einsum("ncl,ncl->nc", _by_channel(a), _by_channel(b)))  # (N, C)
    return per_image.sum(axis=0, dtype=np.float64).astype(a.dtype)


def batch_norm_train_forward(x, weight, bias, eps):
    """Normalise ``x`` with its own per-channel statistics.

    Parameters
    ----------
    x : ndarray (N, C, ...)
    weight, bias : ndarray (C,)
    eps : float

    Returns
    -------
    y : ndarray, shape of ``x``
    cache : (x_hat, inv_std) for :func:`batch_norm_train_backward`
    mean, var : ndarray (C,), the batch mean and *biased* variance
    """
    ndim, count = x.ndim, x.size // x.shape[1]
    mean = _channel_sum(x) / count
    x_hat = x - per_channel(mean, ndim)  # centred for now; normalised in place below
    var = _channel_sum(x_hat, x_hat) / count
    inv_std = 1.0 / np.sqrt(var + eps)  # (C,)
    x_hat *= per_channel(inv_std, ndim)
    y = x_hat * per_channel(weight, ndim)
    y += per_channel(bias, ndim)
    return y, (x_hat, inv_std), mean, var


def batch_norm_train_backward(dy, cache, weight):
    """Gradients of :func:`batch_norm_train_forward`, through the batch statistics.

    Returns
    -------
    dx : ndarray, shape of ``dy``; dweight, dbias : ndarray (C,)
    """
    x_hat, inv_std = cache
    ndim, count = dy.ndim, dy.size // dy.shape[1]  # count: m, values per channel
    dbias = _channel_sum(dy)
    dweight = _channel_sum(dy, x_hat)
    # dx = weight * inv_std * (dy - dbias / m - x_hat * dweight / m), built in place
    dx = x_hat * per_channel(-dweight / count, ndim)
    dx -= per_channel(dbias / count, ndim)
    dx += dy
    dx *= per_channel(weight * inv_std, ndim)
    return dx, dweight, dbias


def batch_norm_eval_forward(x, weight, bias, running_mean, running_var, eps):
    """Normalise ``x`` with fixed statistics (evaluation mode), an affine map per channel.

    ``y = (x - running_mean) / sqrt(running_var + eps) * weight + bias``, computed as
    ``x * scale + shift`` with ``scale = weight * inv_std`` and ``shift = bias - running_mean * scale``.

    Returns
    -------
    y : ndarray, shape of ``x``; cache : (x, mean, inv_std) for :func:`batch_norm_eval_backward`
    """
    ndim = x.ndim
    mean = running_mean.astype(x.dtype, copy=False)
    inv_std = (1.0 / np.sqrt(running_var + eps)).astype(x.dtype, copy=False)  # (C,)
    scale = weight * inv_std
    y = x * per_channel(scale, ndim)
    y += per_channel(bias - mean * scale, ndim)
    return y, (x, mean, inv_std)


def batch_norm_eval_backward(dy, cache, weight):
    """Gradients of :func:`batch_norm_eval_forward`.

    ``dx = dy * weight * inv_std``; ``dweight = sum(dy * x_hat) = inv_std * (sum(dy * x) - mean * sum(dy))``;
    ``dbias = sum(dy)``.

    Returns
    -------
    dx : ndarray, shape of ``dy``; dweight, dbias : ndarray (C,)
    """
    x, mean, inv_std = cache
    dx = dy * per_channel(weight * inv_std, dy.ndim)
    dbias = _channel_sum(dy)
    dweight = inv_std * (_channel_sum(dy, x) - mean * dbias)
    return dx, dweight, dbias


def batch_norm_naive(x, weight, bias, eps):
    """Loop-per-channel reference of the training forward pass (a test oracle)."""
    y = np.empty_like(x)
    for channel in range(x.shape[1]):
        values = x[:, channel]
        mean = values.mean()
        var = ((values - mean) ** 2).mean()
        y[:, channel] = (values - mean) / np.sqrt(var + eps) * weight[channel] + bias[channel]
    return y
