"""Linear (fully connected) and Flatten layers."""

from __future__ import annotations

import math

import numpy as np

from .._checks import positive_int
from ..engines import ops
from ..init import as_generator, bias_uniform, check_float_dtype, kaiming_uniform
from ..parameter import Parameter
from .base import Layer


class Linear(Layer):
    """Affine map ``y = x @ W.T + b`` (torch.nn.Linear).

    Parameters
    ----------
    in_features, out_features : int
    bias : bool, default True
    dtype : numpy floating dtype, default float32
    rng : None, int or numpy.random.Generator

    Attributes
    ----------
    weight : Parameter, shape (out_features, in_features), ``U(-1/sqrt(in), 1/sqrt(in))``
    bias : Parameter of shape (out_features,), or None

    Shapes: x (N, in_features) -> y (N, out_features). Put a :class:`Flatten` before it to feed
    images. Backward: ``dx = dy @ W``, ``dW = dy.T @ x``, ``db = sum_n dy``.
    """

    def __init__(self, in_features, out_features, bias=True, *, dtype=np.float32, rng=None):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features", "Linear")
        self.out_features = positive_int(out_features, "out_features", "Linear")
        dtype = check_float_dtype(dtype, "Linear")
        rng = as_generator(rng)
        shape = (self.out_features, self.in_features)
        self.weight = Parameter(kaiming_uniform(shape, self.in_features, rng, dtype), "weight")
        self.bias = (Parameter(bias_uniform(self.out_features, self.in_features, rng, dtype), "bias")
                     if bias else None)

    def forward(self, x):
        layout = f"(N, {self.in_features})"
        if isinstance(x, np.ndarray) and x.ndim > 2:
            raise ValueError(f"{self!r}: expected input of shape {layout}, got {x.shape}; "
                             f"add a Flatten() layer before it")
        self._check_input(x, 2, layout, 1, self.in_features, self.weight.dtype)
        self._cache = x
        return ops().linear_forward(x, self.weight.data, None if self.bias is None else self.bias.data)

    def backward(self, dy):
        x = self._saved()
        self._check_grad(dy, (x.shape[0], self.out_features))
        dx, dweight, dbias = ops().linear_backward(dy, x, self.weight.data, self.bias is not None)
        np.copyto(self.weight.grad, dweight)
        if self.bias is not None:
            np.copyto(self.bias.grad, dbias)
        return dx

    def config(self):
        return {"in_features": self.in_features, "out_features": self.out_features,
                "bias": self.bias is not None, "dtype": str(self.weight.dtype)}

    def __repr__(self):
        return f"Linear({self.in_features}→{self.out_features})"


class Flatten(Layer):
    """Flatten all but the batch axis: (N, d1, d2, ...) -> (N, d1*d2*...) (torch.nn.Flatten).

    The order is C-order over (d1, d2, ...), i.e. (C, H, W) for images, as in torch, so Linear
    weights are interchangeable.
    """

    def forward(self, x):
        self._check_input(x, None, "(N, ...)")
        if x.ndim < 2:
            raise ValueError(f"{self!r}: expected an array of shape (N, ...) with rank >= 2, got {x.shape}")
        self._cache = x.shape
        return x.reshape(x.shape[0], math.prod(x.shape[1:]))  # (N, C*H*W)

    def backward(self, dy):
        x_shape = self._saved()
        self._check_grad(dy, (x_shape[0], math.prod(x_shape[1:])))
        return dy.reshape(x_shape)  # (N, C, H, W)
