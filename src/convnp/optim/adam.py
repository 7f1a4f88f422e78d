"""Adam and AdamW (decoupled weight decay), as torch.optim.Adam and torch.optim.AdamW."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..parameter import Parameter
from .optimizer import Optimizer


class Adam(Optimizer):
    """Adam: steps from bias-corrected running averages of the gradient and its square.

    Parameters
    ----------
    params : iterable of Parameter
        Parameters to update.
    lr : float, default 1e-3
        Learning rate, >= 0.
    betas : (float, float), default (0.9, 0.999)
        Decays (beta1, beta2) of the first and second moment averages, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, after the square root and the bias correction, >= 0.
    weight_decay : float, default 0.0
        L2 penalty lambda, >= 0, added to the gradient (see AdamW for the decoupled form).

    Notes
    -----
    With g = grad + lambda * p, m the state ``exp_avg``, v the state ``exp_avg_sq`` (zeros at
    first) and t the state ``step`` after incrementing (t = 1 on the first step)::

        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g**2
        p = p - lr / (1 - beta1**t) * m / (sqrt(v) / sqrt(1 - beta2**t) + eps)
    """

    _hyperparameter_names = ("lr", "betas", "eps", "weight_decay")
    _state_names = ("step", "exp_avg", "exp_avg_sq")
    _decoupled_weight_decay = False

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params)
        if len(betas) != 2:
            raise ValueError(f"{type(self).__name__}: betas must be a pair, got {betas!r}")
        self.lr = float(lr)
        self.betas = (float(betas[0]), float(betas[1]))
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self._validate()

    def _validate(self) -> None:
        super()._validate()
        self._check_non_negative("eps", self.eps)
        for index, beta in enumerate(self.betas):
            if not 0.0 <= beta < 1.0:
                raise ValueError(
                    f"{type(self).__name__}: invalid beta parameter at index {index}: "
                    f"{beta!r}; expected 0 <= beta < 1"
                )
        self._check_non_negative("weight_decay", self.weight_decay)

    def _init_state(self, param: Parameter) -> dict:
        return {
            "step": 0,
            "exp_avg": np.zeros_like(param.data),
            "exp_avg_sq": np.zeros_like(param.data),
        }

    def _update(self, param: Parameter, state: dict) -> None:
        state["step"] += 1
        step_count = state["step"]
        lr, eps, weight_decay = float(self.lr), float(self.eps), float(self.weight_decay)
        beta1, beta2 = float(self.betas[0]), float(self.betas[1])
        if self._decoupled_weight_decay:
            if weight_decay != 0:
                param.data *= 1 - lr * weight_decay
            grad = param.grad
        else:
            grad = self._gradient(param, weight_decay)
        exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
        update = self._buffer(param, "update")

        np.multiply(grad, 1 - beta1, out=update)
        exp_avg *= beta1
        exp_avg += update  # m = beta1 m + (1 - beta1) g
        np.multiply(grad, grad, out=update)
        update *= 1 - beta2
        exp_avg_sq *= beta2
        exp_avg_sq += update  # v = beta2 v + (1 - beta2) g**2

        step_size = lr / (1 - beta1**step_count)
        bias_correction2_sqrt = (1 - beta2**step_count) ** 0.5
        np.sqrt(exp_avg_sq, out=update)
        update /= bias_correction2_sqrt
        update += eps  # denominator
        np.divide(exp_avg, update, out=update)
        update *= step_size
        param.data -= update


class AdamW(Adam):
    """Adam with decoupled weight decay: the decay shrinks the weights, not the gradient.

    Parameters
    ----------
    params : iterable of Parameter
        Parameters to update.
    lr : float, default 1e-3
        Learning rate, >= 0.
    betas : (float, float), default (0.9, 0.999)
        Decays (beta1, beta2) of the first and second moment averages, each in [0, 1).
    eps : float, default 1e-8
        Added to the denominator, >= 0.
    weight_decay : float, default 0.01
        Decoupled decay lambda, >= 0.

    Notes
    -----
    Before Adam's update (which then uses the raw gradient, g = grad)::

        p = p * (1 - lr * lambda)
    """

    _decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.01,
    ):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
