"""Optimizers with per-element adaptive step sizes: Adagrad, Adadelta, RMSprop (as torch.optim)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..parameter import Parameter
from .optimizer import Optimizer


class Adagrad(Optimizer):
    """Adagrad: the step of each element shrinks with the sum of its squared gradients.

    Parameters
    ----------
    params : iterable of Parameter
        Parameters to update.
    lr : float, default 0.01
        Learning rate, >= 0.
    eps : float, default 1e-10
        Added to the denominator, >= 0.
    weight_decay : float, default 0.0
        L2 penalty lambda, >= 0, added to the gradient.

    Notes
    -----
    With g = grad + lambda * p and s the state ``sum`` (zeros at first; torch's
    ``initial_accumulator_value=0``, ``lr_decay=0``)::

        s = s + g**2
        p = p - lr * g / (sqrt(s) + eps)
    """

    _hyperparameter_names = ("lr", "eps", "weight_decay")
    _state_names = ("step", "sum")

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 0.01,
        eps: float = 1e-10,
        weight_decay: float = 0.0,
    ):
        super().__init__(params)
        self.lr = float(lr)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self._validate()

    def _validate(self) -> None:
        super()._validate()
        self._check_non_negative("eps", self.eps)
        self._check_non_negative("weight_decay", self.weight_decay)

    def _init_state(self, param: Parameter) -> dict:
        return {"step": 0, "sum": np.zeros_like(param.data)}

    def _update(self, param: Parameter, state: dict) -> None:
        state["step"] += 1
        grad = self._gradient(param, float(self.weight_decay))
        squares = state["sum"]
        update = self._buffer(param, "update")
        np.multiply(grad, grad, out=update)
        squares += update  # s = s + g**2
        np.sqrt(squares, out=update)
        update += float(self.eps)  # sqrt(s) + eps
        np.divide(grad, update, out=update)
        update *= float(self.lr)
        param.data -= update


class Adadelta(Optimizer):
    """Adadelta: steps scaled by the ratio of running RMS of past updates and of gradients.

    Parameters
    ----------
    params : iterable of Parameter
        Parameters to update.
    lr : float, default 1.0
        Factor applied to the computed update before it is subtracted, >= 0.
    rho : float, default 0.9
        Decay of both running averages, in [0, 1].
    eps : float, default 1e-6
        Added inside both square roots, >= 0.
    weight_decay : float, default 0.0
        L2 penalty lambda, >= 0, added to the gradient.

    Notes
    -----
    With g = grad + lambda * p, v the state ``square_avg`` and u the state ``acc_delta``
    (both zeros at first)::

        v = rho * v + (1 - rho) * g**2
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u = rho * u + (1 - rho) * delta**2
        p = p - lr * delta
    """

    _hyperparameter_names = ("lr", "rho", "eps", "weight_decay")
    _state_names = ("step", "square_avg", "acc_delta")

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
    ):
        super().__init__(params)
        self.lr = float(lr)
        self.rho = float(rho)
        self.eps = float(eps)
        self.weight_decay = float(weight_decay)
        self._validate()

    def _validate(self) -> None:
        super()._validate()
        if not 0.0 <= self.rho <= 1.0:
            raise ValueError(f"Adadelta: invalid rho {self.rho!r}; expected 0 <= rho <= 1")
        self._check_non_negative("eps", self.eps)
        self._check_non_negative("weight_decay", self.weight_decay)

    def _init_state(self, param: Parameter) -> dict:
        return {
            "step": 0,
            "square_avg": np.zeros_like(param.data),
            "acc_delta": np.zeros_like(param.data),
        }

    def _update(self, param: Parameter, state: dict) -> None:
        state["step"] += 1
        rho, eps = float(self.rho), float(self.eps)
        grad = self._gradient(param, float(self.weight_decay))
        square_avg, acc_delta = state["square_avg"], state["acc_delta"]
        delta, scratch = self._buffer(param, "delta"), self._buffer(param, "scratch")

        _decay_squares_into(square_avg, grad, rho, scratch)  # v = rho v + (1 - rho) g**2
        np.add(square_avg, eps, out=scratch)
        np.sqrt(scratch, out=scratch)  # sqrt(v + eps)
        np.add(acc_delta, eps, out=delta)
        np.sqrt(delta, out=delta)  # sqrt(u + eps)
        delta /= scratch
        delta *= grad
        _decay_squares_into(acc_delta, delta, rho, scratch)  # u = rho u + (1 - rho) delta**2
        delta *= float(self.lr)
        param.data -= delta


class RMSprop(Optimizer):
    """RMSprop: steps divided by a running root mean square of the gradient.

    Parameters
    ----------
    params : iterable of Parameter
        Parameters to update.
    lr : float, default 0.01
        Learning rate, >= 0.
    alpha : float, default 0.99
        Decay of the running average of squared gradients, >= 0.
    eps : float, default 1e-8
        Added to the denominator (outside the square root), >= 0.
    momentum : float, default 0.0
        Momentum factor mu, >= 0.
    weight_decay : float, default 0.0
        L2 penalty lambda, >= 0, added to the gradient.

    Notes
    -----
    With g = grad + lambda * p, v the state ``square_avg`` and b the state ``momentum_buffer``
    (both zeros at first; torch's ``centered=False``)::

        v = alpha * v + (1 - alpha) * g**2
        b = mu * b + g / (sqrt(v) + eps);   p = p - lr * b                     if mu > 0
        p = p - lr * g / (sqrt(v) + eps)                                         otherwise
    """

    _hyperparameter_names = ("lr", "alpha", "eps", "momentum", "weight_decay")
    _state_names = ("step", "square_avg", "momentum_buffer")

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 0.01,
        alpha: float = 0.99,
        eps: float = 1e-8,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ):
        super().__init__(params)
        self.lr = float(lr)
        self.alpha = float(alpha)
        self.eps = float(eps)
        self.momentum = float(momentum)
        self.weight_decay = float(weight_decay)
        self._validate()

    def _validate(self) -> None:
        super()._validate()
        for name in ("alpha", "eps", "momentum", "weight_decay"):
            self._check_non_negative(name, getattr(self, name))

    def _init_state(self, param: Parameter) -> dict:
        state = {"step": 0, "square_avg": np.zeros_like(param.data)}
        if self.momentum > 0:
            state["momentum_buffer"] = np.zeros_like(param.data)
        return state

    def _update(self, param: Parameter, state: dict) -> None:
        state["step"] += 1
        momentum = float(self.momentum)
        grad = self._gradient(param, float(self.weight_decay))
        square_avg = state["square_avg"]
        update = self._buffer(param, "update")

        _decay_squares_into(square_avg, grad, float(self.alpha), update)  # v = a v + (1 - a) g**2
        np.sqrt(square_avg, out=update)
        update += float(self.eps)
        np.divide(grad, update, out=update)  # g / (sqrt(v) + eps)
        if momentum > 0:
            # A schedule may turn momentum on after the first step: start from zeros then.
            velocity = state.get("momentum_buffer")
            if velocity is None:
                velocity = state["momentum_buffer"] = np.zeros_like(param.data)
            velocity *= momentum
            velocity += update
            np.multiply(velocity, float(self.lr), out=update)
        else:
            update *= float(self.lr)
        param.data -= update


def _decay_squares_into(average: np.ndarray, values: np.ndarray, decay: float, scratch: np.ndarray) -> None:
    """In place: ``average = decay * average + (1 - decay) * values**2``; clobbers ``scratch``."""
    np.multiply(values, values, out=scratch)
    scratch *= 1 - decay
    average *= decay
    average += scratch
