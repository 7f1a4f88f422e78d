"""Elementwise activations and softmax: forward and backward, with torch.nn's formulas.

Every function is safe for inputs of +-1e4: exponentials only ever see arguments that cannot
overflow, so no overflow warnings and no inf/nan appear.
Backward functions take the upstream gradient ``dy`` and what the forward pass saw or produced.
"""

from __future__ import annotations

import numpy as np

SELU_ALPHA = 1.6732632423543772848170429239053  # torch.nn.SELU constants
SELU_SCALE = 1.0507009873554804934193349852946


def relu(x):
    """``max(x, 0)``. The engine's twin: :func:`convnp.fast.relu`."""
    return np.maximum(x, 0)


def relu_backward(dy, y):
    """``dy`` where ``y > 0``, else 0 (torch's rule: the subgradient at 0 is 0).

    ``y`` may be relu's input or its output: they are positive at the same places. Written as a
    select rather than ``dy * (y > 0)`` so that an inf or NaN ``dy`` where the unit is off still
    gives 0, and a NaN ``y`` passes ``dy`` on, as torch does. Twin: :func:`convnp.fast.relu_backward`.
    """
    return np.where(y <= 0, 0, dy).astype(np.result_type(dy, y), copy=False)


def leaky_relu(x, negative_slope=0.01):
    """``x`` for ``x > 0``, else ``negative_slope * x``."""
    return np.where(x > 0, x, x * negative_slope)


def leaky_relu_backward(dy, x, negative_slope=0.01):
    """``dy`` for ``x > 0``, else ``negative_slope * dy``."""
    return np.where(x > 0, dy, dy * negative_slope)


def sigmoid(x):
    """``1 / (1 + exp(-x))``, computed as ``exp(-log(1 + exp(-x)))`` via logaddexp (no overflow)."""
    return np.exp(-np.logaddexp(0, -x))


def sigmoid_backward(dy, y):
    """``dy * y * (1 - y)`` with ``y = sigmoid(x)``."""
    return dy * y * (1 - y)


def tanh(x):
    """Hyperbolic tangent."""
    return np.tanh(x)


def tanh_backward(dy, y):
    """``dy * (1 - y**2)`` with ``y = tanh(x)``."""
    return dy * (1 - y * y)


def elu(x, alpha=1.0):
    """``x`` for ``x > 0``, else ``alpha * (exp(x) - 1)`` (expm1 of min(x, 0): no overflow)."""
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))


def elu_backward(dy, x, alpha=1.0):
    """``dy`` for ``x > 0``, else ``dy * alpha * exp(x)``."""
    return np.where(x > 0, dy, dy * alpha * np.exp(np.minimum(x, 0)))


def selu(x):
    """``scale * elu(x, alpha)`` with torch's fixed constants (self-normalising)."""
    return SELU_SCALE * elu(x, SELU_ALPHA)


def selu_backward(dy, x):
    """``scale * elu_backward(dy, x, alpha)``."""
    return SELU_SCALE * elu_backward(dy, x, SELU_ALPHA)


def softplus(x, beta=1.0, threshold=20.0):
    """``log(1 + exp(beta * x)) / beta``; returns ``x`` itself where ``beta * x > threshold``."""
    scaled = x * beta
    smooth = np.log1p(np.exp(np.minimum(scaled, threshold))) / beta
    return np.where(scaled > threshold, x, smooth)


def softplus_backward(dy, x, beta=1.0, threshold=20.0):
    """``dy * sigmoid(beta * x)``; ``dy`` where ``beta * x > threshold`` (linear region)."""
    scaled = x * beta
    z = np.exp(np.minimum(scaled, threshold))
    return np.where(scaled > threshold, dy, dy * z / (z + 1))


def softmax(x, axis=1):
    """``exp(x - max) / sum(exp(x - max))`` along ``axis`` (shift-invariant, so never overflows)."""
    shifted = x - x.max(axis=axis, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=axis, keepdims=True)


def softmax_backward(dy, y, axis=1):
    """Jacobian-vector product of softmax: ``y * (dy - sum(dy * y, axis))``."""
    return y * (dy - (dy * y).sum(axis=axis, keepdims=True))


def log_softmax(x, axis=1):
    """``x - logsumexp(x)`` along ``axis``, finite for logits of +-1e4."""
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))
