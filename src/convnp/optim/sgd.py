"""Stochastic gradient descent with optional (Nesterov) momentum, as torch.optim.SGD."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..parameter import Parameter
from .optimizer import Optimizer


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with momentum or Nesterov momentum.

    Parameters
    ----------
    params : iterable of Parameter
        Parameters to update.
    lr : float
        Learning rate, >= 0.
    momentum : float, default 0.0
        Momentum factor mu, >= 0.
    nesterov : bool, default False
        Use Nesterov momentum (requires ``momentum > 0``).
    weight_decay : float, default 0.0
        L2 penalty lambda, >= 0, added to the gradient.

    Notes
    -----
    With g = grad + lambda * p, at each step (torch's formulation; b is ``momentum_buffer``)::

        b = g                      on the first step,
        b = mu * b + g             afterwards            (only when mu != 0)
        d = g + mu * b             if nesterov, else d = b   (d = g when mu == 0)
        p = p - lr * d
    """

    _hyperparameter_names = ("lr", "momentum", "nesterov", "weight_decay")
    _state_names = ("momentum_buffer",)

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ):
        super().__init__(params)
        self.lr = float(lr)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = float(weight_decay)
        self._validate()

    def _validate(self) -> None:
        super()._validate()
        self._check_non_negative("momentum", self.momentum)
        self._check_non_negative("weight_decay", self.weight_decay)
        if self.nesterov and self.momentum <= 0:
            raise ValueError(f"SGD: Nesterov momentum requires momentum > 0, got momentum={self.momentum!r}")

    def _update(self, param: Parameter, state: dict) -> None:
        lr, momentum = float(self.lr), float(self.momentum)
        grad = self._gradient(param, float(self.weight_decay))
        update = self._buffer(param, "update")  # lr * direction
        if momentum == 0:
            np.multiply(grad, lr, out=update)
        else:
            velocity = state.get("momentum_buffer")
            if velocity is None:
                velocity = state["momentum_buffer"] = grad.copy()
            else:
                velocity *= momentum
                velocity += grad
            if self.nesterov:
                np.multiply(velocity, momentum, out=update)
                update += grad
                update *= lr
            else:
                np.multiply(velocity, lr, out=update)
        param.data -= update
