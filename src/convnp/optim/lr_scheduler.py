"""Learning-rate schedules with torch.optim.lr_scheduler's meanings and values.

``LRScheduler``, ``StepLR`` and ``CosineAnnealingLR`` live here; ``OneCycleLR`` in
``one_cycle.py`` (also importable from this module).

A schedule changes ``optimizer.lr`` (and, for OneCycleLR, the momentum or beta1) each time its
``step()`` is called, after ``optimizer.step()``. ``last_epoch`` counts those calls; construction
counts as the call that sets ``last_epoch = 0``, as in torch.
"""

from __future__ import annotations

import math

import numpy as np

from .optimizer import Optimizer, _from_array


class LRScheduler:
    """Base class: sets ``optimizer.lr`` from a schedule indexed by ``last_epoch``.

    Subclasses implement ``get_lr`` and list in ``_config_names`` the settings that
    ``state_dict`` saves besides ``last_epoch``, ``base_lrs`` and the last learning rate.

    Parameters
    ----------
    optimizer : Optimizer
        The optimizer whose ``lr`` is scheduled. If it has no ``initial_lr`` yet, its current
        ``lr`` becomes its ``initial_lr`` (torch's ``group.setdefault("initial_lr", lr)``).

    Attributes
    ----------
    last_epoch : int
        Number of ``step()`` calls since construction.
    base_lrs : list of float
        ``[optimizer.initial_lr]``.
    """

    _config_names: tuple[str, ...] = ()

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__}: expected a convnp Optimizer, got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        if optimizer.initial_lr is None:
            optimizer.initial_lr = optimizer.lr
        self.base_lrs = [optimizer.initial_lr]
        self.last_epoch = 0
        self._set_lr(self._first_lr())

    def get_lr(self) -> float:
        """The learning rate for the current ``last_epoch`` (called by ``step`` after counting)."""
        raise NotImplementedError

    def _first_lr(self) -> float:
        """The learning rate set at construction (``last_epoch == 0``): by default, unchanged."""
        return self.optimizer.lr

    def step(self) -> None:
        """Advance the schedule by one and set the optimizer's learning rate."""
        self.last_epoch += 1
        self._set_lr(self.get_lr())

    def get_last_lr(self) -> list[float]:
        """The learning rate this schedule set last, as a one-element list (like torch)."""
        return list(self._last_lr)

    def _set_lr(self, lr: float) -> None:
        self.optimizer.lr = lr
        self._last_lr = [lr]

    def state_dict(self) -> dict[str, np.ndarray]:
        """``last_epoch``, ``base_lrs``, ``last_lr`` and the settings, as a flat dict of arrays."""
        result = {name: np.array(getattr(self, name)) for name in self._config_names}
        result["last_epoch"] = np.array(self.last_epoch)
        result["base_lrs"] = np.array(self.base_lrs, dtype=np.float64)
        result["last_lr"] = np.array(self._last_lr, dtype=np.float64)
        return result

    def load_state_dict(self, state_dict: dict[str, np.ndarray]) -> None:
        """Restore what ``state_dict`` saved (the optimizer's own state is loaded separately).

        Raises
        ------
        ValueError
            On a missing or unexpected key or a shape that does not match; nothing is changed then.
        """
        current = {name: getattr(self, name) for name in self._config_names}
        current.update(last_epoch=self.last_epoch, base_lrs=self.base_lrs, last_lr=self._last_lr)
        unexpected = sorted(set(state_dict) - set(current))
        missing = sorted(set(current) - set(state_dict))
        if unexpected or missing:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: unexpected keys {unexpected}, missing keys {missing}"
            )
        values = {
            name: _from_array(state_dict[name], like=like, key=name, owner=self)
            for name, like in current.items()
        }
        self._last_lr = values.pop("last_lr")
        for name, value in values.items():
            setattr(self, name, value)


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


def __getattr__(name: str):
    # OneCycleLR is defined in one_cycle.py, which imports this module; load it on first use.
    if name == "OneCycleLR":
        from .one_cycle import OneCycleLR

        return OneCycleLR
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
