"""The base of every learning-rate schedule: ``optimizer.lr`` from a schedule indexed by ``last_epoch``."""

from __future__ import annotations

import numpy as np

from .optimizer import Optimizer, from_array


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
            name: from_array(state_dict[name], like=like, key=name, owner=self)
            for name, like in current.items()
        }
        self._last_lr = values.pop("last_lr")
        for name, value in values.items():
            setattr(self, name, value)
