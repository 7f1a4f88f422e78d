"""Activation layers: elementwise nonlinearities and softmax, torch.nn's names and formulas.

Each caches the one array its backward needs: the input ``x`` or, where the derivative can be
written in terms of it, the output ``y`` (ReLU, Sigmoid, Tanh, Softmax).
"""

from __future__ import annotations

from .. import functional as F
from ..engines import get_engine, ops
from .base import Layer


class _Elementwise(Layer):
    """Checks shared by the activations: any floating array, any shape."""

    def _check(self, x):
        self._check_input(x, None, "(N, ...)")

    def _saved_for(self, dy):
        saved = self._saved()
        self._check_grad(dy, saved.shape)
        return saved


class ReLU(_Elementwise):
    """``max(x, 0)``; backward ``dy * [x > 0]``.

    Caches its output ``y`` rather than ``x`` (``y > 0`` exactly where ``x > 0``), so the
    previous layer's output can be freed: one activation less held per ReLU during training.
    """

    def forward(self, x):
        self._check(x)
        engine = get_engine()
        y = ops(engine).relu(x)
        self._cache = (engine, y)
        return y

    def backward(self, dy):
        engine, y = self._saved()
        self._check_grad(dy, y.shape)
        return ops(engine).relu_backward(dy, y)


class LeakyReLU(_Elementwise):
    """``x`` if ``x > 0`` else ``negative_slope * x``."""

    def __init__(self, negative_slope=0.01):
        super().__init__()
        self.negative_slope = float(negative_slope)

    def forward(self, x):
        self._check(x)
        self._cache = x
        return F.leaky_relu(x, self.negative_slope)

    def backward(self, dy):
        return F.leaky_relu_backward(dy, self._saved_for(dy), self.negative_slope)

    def config(self):
        return {"negative_slope": self.negative_slope}

    def __repr__(self):
        return f"LeakyReLU({self.negative_slope})"


class Sigmoid(_Elementwise):
    """``1 / (1 + exp(-x))``; backward ``dy * y * (1 - y)``."""

    def forward(self, x):
        self._check(x)
        self._cache = F.sigmoid(x)
        return self._cache

    def backward(self, dy):
        return F.sigmoid_backward(dy, self._saved_for(dy))


class Tanh(_Elementwise):
    """``tanh(x)``; backward ``dy * (1 - y**2)``."""

    def forward(self, x):
        self._check(x)
        engine = get_engine()
        y = ops(engine).tanh(x)
        self._cache = (engine, y)
        return y

    def backward(self, dy):
        engine, y = self._saved()
        self._check_grad(dy, y.shape)
        return ops(engine).tanh_backward(dy, y)


class ELU(_Elementwise):
    """``x`` if ``x > 0`` else ``alpha * (exp(x) - 1)``."""

    def __init__(self, alpha=1.0):
        super().__init__()
        self.alpha = float(alpha)

    def forward(self, x):
        self._check(x)
        self._cache = x
        return F.elu(x, self.alpha)

    def backward(self, dy):
        return F.elu_backward(dy, self._saved_for(dy), self.alpha)

    def config(self):
        return {"alpha": self.alpha}

    def __repr__(self):
        return f"ELU(alpha={self.alpha})"


class SELU(_Elementwise):
    """``scale * ELU(x, alpha)`` with torch's constants (scale 1.0507..., alpha 1.6733...)."""

    def forward(self, x):
        self._check(x)
        self._cache = x
        return F.selu(x)

    def backward(self, dy):
        return F.selu_backward(dy, self._saved_for(dy))


class Softplus(_Elementwise):
    """``log(1 + exp(beta * x)) / beta``, linear (= x) where ``beta * x > threshold``."""

    def __init__(self, beta=1.0, threshold=20.0):
        super().__init__()
        self.beta, self.threshold = float(beta), float(threshold)

    def forward(self, x):
        self._check(x)
        self._cache = x
        return F.softplus(x, self.beta, self.threshold)

    def backward(self, dy):
        return F.softplus_backward(dy, self._saved_for(dy), self.beta, self.threshold)

    def config(self):
        return {"beta": self.beta, "threshold": self.threshold}

    def __repr__(self):
        return f"Softplus(beta={self.beta}, threshold={self.threshold})"


class Softmax(_Elementwise):
    """``exp(x) / sum(exp(x))`` along ``dim``; backward ``y * (dy - sum(dy * y, dim))``.

    For classification train on logits with :class:`convnp.CrossEntropyLoss` instead (it fuses
    softmax in a numerically better way); use this layer for probabilities at inference.
    """

    def __init__(self, dim=1):
        super().__init__()
        self.dim = int(dim)

    def forward(self, x):
        self._check(x)
        if not -x.ndim <= self.dim < x.ndim:
            raise ValueError(f"{self!r}: dim {self.dim} is out of range for input of shape {x.shape}")
        self._cache = F.softmax(x, axis=self.dim)
        return self._cache

    def backward(self, dy):
        return F.softmax_backward(dy, self._saved_for(dy), axis=self.dim)

    def config(self):
        return {"dim": self.dim}

    def __repr__(self):
        return f"Softmax(dim={self.dim})"
