"""BatchNorm1d and BatchNorm2d: per-channel batch normalisation (torch.nn.BatchNorm*d semantics)."""

from __future__ import annotations

import numbers

import numpy as np

from .._checks import positive_int
from ..engines import get_engine, ops
from ..init import check_float_dtype
from ..parameter import Parameter
from .base import Layer


class _BatchNorm(Layer):
    """Shared state and math of BatchNorm1d/2d; subclasses only say which input ranks they take.

    Parameters
    ----------
    num_features : int
        C, the size of axis 1.
    eps : float, default 1e-5
        Added to the variance before the square root.
    momentum : float in [0, 1] or None, default 0.1
        Running statistics follow ``running = (1 - momentum) * running + momentum * batch_stat``
        (torch's convention, the opposite of Keras'). None gives the cumulative average over
        all batches seen (factor ``1 / num_batches_tracked``), as in torch.
    dtype : numpy floating dtype, default float32

    Attributes
    ----------
    weight : Parameter (C,), ones; bias : Parameter (C,), zeros
    running_mean : ndarray (C,), zeros; running_var : ndarray (C,), ones
        Buffers (in ``state_dict``), updated by every training-mode forward; the variance is the
        *unbiased* batch variance ``var * m / (m - 1)`` with ``m`` values per channel.
    num_batches_tracked : ndarray, shape (), int64
        Training-mode forward passes so far (a buffer, as in torch).

    Training mode normalises with the batch's mean and biased variance and back-propagates through
    them; evaluation mode uses the running statistics. See :mod:`convnp.functional.normalization`.
    """

    _buffer_names = ("running_mean", "running_var", "num_batches_tracked")
    _ranks: tuple[int, ...] = ()
    _layout = ""

    def __init__(self, num_features, eps=1e-5, momentum=0.1, *, dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        self.num_features = positive_int(num_features, "num_features", name)
        if not isinstance(eps, numbers.Real) or not eps > 0:
            raise ValueError(f"{name}: eps must be a positive number, got {eps!r}")
        if momentum is not None and (not isinstance(momentum, numbers.Real) or not 0 <= momentum <= 1):
            raise ValueError(f"{name}: momentum must be a number in [0, 1] or None, got {momentum!r}")
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        dtype = check_float_dtype(dtype, name)
        self.weight = Parameter(np.ones(self.num_features, dtype=dtype), "weight")
        self.bias = Parameter(np.zeros(self.num_features, dtype=dtype), "bias")
        self.running_mean = np.zeros(self.num_features, dtype=dtype)
        self.running_var = np.ones(self.num_features, dtype=dtype)
        self.num_batches_tracked = np.zeros((), dtype=np.int64)

    def _check(self, x):
        self._check_input(x, None, self._layout, dtype=self.weight.dtype)
        if x.ndim not in self._ranks or x.shape[1] != self.num_features:
            raise ValueError(f"{self!r}: expected input of shape {self._layout}, got {x.shape}")

    def forward(self, x):
        self._check(x)
        weight, bias = self.weight.data, self.bias.data
        engine = get_engine()  # backward runs the same engine's twin
        if not self.training:
            y, cache = ops(engine).batch_norm_eval_forward(x, weight, bias, self.running_mean,
                                                           self.running_var, self.eps)
            self._cache = (engine, False, cache, y.shape)
            return y
        count = x.size // self.num_features  # values per channel
        if count <= 1:
            raise ValueError(f"{self!r}: expected more than 1 value per channel when training, got "
                             f"input of shape {x.shape}; use a larger batch or call eval()")
        y, cache, mean, var = ops(engine).batch_norm_train_forward(x, weight, bias, self.eps)
        self._update_running_stats(mean, var * (count / (count - 1)))
        self._cache = (engine, True, cache, y.shape)
        return y

    def _update_running_stats(self, mean, unbiased_var):
        """``running = (1 - factor) * running + factor * batch``, in place (buffers keep identity)."""
        self.num_batches_tracked += 1
        factor = 1.0 / int(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean[...] = (1 - factor) * self.running_mean + factor * mean
        self.running_var[...] = (1 - factor) * self.running_var + factor * unbiased_var

    def backward(self, dy):
        engine, training, cache, y_shape = self._saved()
        self._check_grad(dy, y_shape)
        functions = ops(engine)
        backward = functions.batch_norm_train_backward if training else functions.batch_norm_eval_backward
        dx, dweight, dbias = backward(dy, cache, self.weight.data)
        np.copyto(self.weight.grad, dweight)
        np.copyto(self.bias.grad, dbias)
        return dx

    def config(self):
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "dtype": str(self.weight.dtype)}

    def __repr__(self):
        text = f"{type(self).__name__}({self.num_features}"
        if self.eps != 1e-5:
            text += f", eps={self.eps:g}"
        if self.momentum != 0.1:
            text += f", momentum={self.momentum}"
        return text + ")"


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of features (N, C) or sequences (N, C, L), per channel C.

    See :class:`_BatchNorm` for parameters, buffers and the formulas.
    """

    _ranks = (2, 3)

    @property
    def _layout(self):
        return f"(N, {self.num_features}) or (N, {self.num_features}, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of images (N, C, H, W), per channel C (statistics over N, H, W).

    See :class:`_BatchNorm` for parameters, buffers and the formulas.
    """

    _ranks = (4,)

    @property
    def _layout(self):
        return f"(N, {self.num_features}, H, W)"
