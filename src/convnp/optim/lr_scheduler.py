"""Learning-rate schedules with torch.optim.lr_scheduler's meanings and values.

``StepLR`` and ``CosineAnnealingLR`` live here; the base class ``LRScheduler`` in
``scheduler_base.py`` and ``OneCycleLR`` in ``one_cycle.py`` (both importable from here too).

A schedule changes ``optimizer.lr`` (and, for OneCycleLR, the momentum or beta1) each time its
``step()`` is called, after ``optimizer.step()``. ``last_epoch`` counts those calls; construction
counts as the call that sets ``last_epoch = 0``, as in torch.
"""

from __future__ import annotations

import math

from .one_cycle import OneCycleLR
from .optimizer import Optimizer
from .scheduler_base import LRScheduler


class StepLR(LRScheduler):
    """Multiply the learning rate by ``gamma`` every ``step_size`` steps.

    Parameters
    ----------
    optimizer : Optimizer
        Optimizer whose ``lr`` is scheduled.
    step_size : int
        Period of the decay, > 0.
    gamma : float, default 0.1
        Multiplicative factor.

    Notes
    -----
    ``lr_t = lr_{t-1} * gamma`` when ``t`` is a multiple of ``step_size``, else ``lr_{t-1}``
    (so ``lr_t = lr_0 * gamma ** (t // step_size)`` when nothing else changes the rate).
    """

    _config_names = ("step_size", "gamma")

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1):
        if not step_size > 0:
            raise ValueError(f"StepLR: step_size must be > 0, got {step_size!r}")
        self.step_size = step_size
        self.gamma = gamma
        super().__init__(optimizer)

    def get_lr(self) -> float:
        if self.last_epoch % self.step_size != 0:
            return self.optimizer.lr
        return self.optimizer.lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    """Anneal the learning rate from its initial value to ``eta_min`` along a half cosine.

    Parameters
    ----------
    optimizer : Optimizer
        Optimizer whose ``lr`` is scheduled.
    T_max : int
        Number of steps from the initial rate to ``eta_min``, > 0. Past it the rate rises
        again (a cosine of period ``2 * T_max``), as in torch.
    eta_min : float, default 0.0
        Minimum learning rate.

    Notes
    -----
    Closed form: ``lr_t = eta_min + (lr_0 - eta_min) * (1 + cos(pi * t / T_max)) / 2``.
    Like torch, it is applied recursively from the current rate (so it composes with other
    changes)::

        ratio = (1 + cos(pi * t / T_max)) / (1 + cos(pi * (t - 1) / T_max))
        lr_t = eta_min + (lr_{t-1} - eta_min) * ratio

    and at the minima, where that ratio is 0/0,
    ``lr_t = lr_{t-1} + (lr_0 - eta_min) * (1 - cos(pi / T_max)) / 2``.
    """

    _config_names = ("T_max", "eta_min")

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0):
        if not T_max > 0:
            raise ValueError(f"CosineAnnealingLR: T_max must be > 0, got {T_max!r}")
        self.T_max = T_max
        self.eta_min = eta_min
        super().__init__(optimizer)

    def get_lr(self) -> float:
        lr, epoch, period = self.optimizer.lr, self.last_epoch, self.T_max
        if (epoch - 1 - period) % (2 * period) == 0:
            return lr + (self.base_lrs[0] - self.eta_min) * (1 - math.cos(math.pi / period)) / 2
        return (1 + math.cos(math.pi * epoch / period)) / (1 + math.cos(math.pi * (epoch - 1) / period)) * (
            lr - self.eta_min
        ) + self.eta_min


__all__ = ["LRScheduler", "StepLR", "CosineAnnealingLR", "OneCycleLR"]
