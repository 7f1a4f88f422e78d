"""The 1cycle learning-rate policy (Smith & Topin, 2018), as torch's OneCycleLR."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .optimizer import Optimizer
from .scheduler_base import LRScheduler


class _Phase(NamedTuple):
    """One phase of a one-cycle schedule: the values named here are OneCycleLR attributes."""

    end_step: float
    start_lr: str
    end_lr: str
    start_momentum: str
    end_momentum: str


_ANNEAL_STRATEGIES = ("cos", "linear")  # saved in state_dict as the index


class OneCycleLR(LRScheduler):
    """The 1cycle policy: warm the learning rate up to ``max_lr``, then anneal it far below.

    Momentum (SGD, RMSprop) or beta1 (Adam, AdamW) moves inversely, between ``max_momentum`` and
    ``base_momentum``. Step it after every batch. Stepping more than ``total_steps`` times
    raises ValueError (torch allows ``last_epoch == total_steps``, one step past the end).

    Parameters
    ----------
    optimizer : Optimizer
        Optimizer whose ``lr`` (and momentum or beta1) is scheduled.
    max_lr : float
        Peak learning rate.
    total_steps : int, optional
        Length of the cycle; else ``epochs * steps_per_epoch``.
    epochs, steps_per_epoch : int, optional
        Used when ``total_steps`` is None.
    pct_start : float, default 0.3
        Fraction of the cycle spent increasing the learning rate.
    anneal_strategy : {'cos', 'linear'}, default 'cos'
        Interpolation within a phase.
    cycle_momentum : bool, default True
        Also cycle momentum (or beta1); needs an optimizer that has one.
    base_momentum, max_momentum : float, default 0.85, 0.95
        Momentum at the peak and at the ends of the learning-rate cycle.
    div_factor : float, default 25.0
        ``initial_lr = max_lr / div_factor`` (the rate set at construction).
    final_div_factor : float, default 1e4
        ``min_lr = initial_lr / final_div_factor``.
    three_phase : bool, default False
        Go back down to ``initial_lr`` symmetrically before annealing to ``min_lr``.

    Notes
    -----
    With phases ending at steps ``pct_start * total_steps - 1`` and ``total_steps - 1`` (three
    phases: ``pct_start * total_steps - 1``, ``2 * pct_start * total_steps - 2``,
    ``total_steps - 1``), at step t inside a phase from step s0 to s1 going from a to b::

        pct = (t - s0) / (s1 - s0)
        cos:    value = b + (a - b) / 2 * (1 + cos(pi * pct))
        linear: value = a + (b - a) * pct
    """

    _config_names = (
        "total_steps", "pct_start", "cycle_momentum", "three_phase",
        "initial_lr", "max_lr", "min_lr", "base_momentum", "max_momentum",
    )  # fmt: skip

    def __init__(
        self,
        optimizer: Optimizer,
        max_lr: float,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum: float = 0.85,
        max_momentum: float = 0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
    ):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"OneCycleLR: expected a convnp Optimizer, got {type(optimizer).__name__}")
        self.total_steps = _total_steps(total_steps, epochs, steps_per_epoch)
        if not isinstance(pct_start, float) or not 0 <= pct_start <= 1:
            raise ValueError(f"OneCycleLR: expected a float pct_start in [0, 1], got {pct_start!r}")
        if anneal_strategy not in _ANNEAL_STRATEGIES:
            raise ValueError(
                f"OneCycleLR: anneal_strategy must be one of 'cos' or 'linear', got {anneal_strategy!r}"
            )
        if cycle_momentum and not (hasattr(optimizer, "betas") or hasattr(optimizer, "momentum")):
            raise ValueError(
                f"OneCycleLR: optimizer must support momentum or beta1 with `cycle_momentum` "
                f"option enabled; {type(optimizer).__name__} has neither"
            )
        self.pct_start = pct_start
        self.anneal_strategy = anneal_strategy
        self.cycle_momentum = bool(cycle_momentum)
        self.three_phase = bool(three_phase)
        self.max_lr = _one_value("max_lr", max_lr)
        self.initial_lr = self.max_lr / div_factor
        self.min_lr = self.initial_lr / final_div_factor
        self.base_momentum = _one_value("base_momentum", base_momentum)
        self.max_momentum = _one_value("max_momentum", max_momentum)
        self.use_beta1 = hasattr(optimizer, "betas")
        optimizer.initial_lr = self.initial_lr
        super().__init__(optimizer)  # sets lr (and momentum) for step 0

    def _first_lr(self) -> float:
        return self.get_lr()

    def get_lr(self) -> float:
        """The learning rate at ``last_epoch``; also sets the momentum when cycling it."""
        if self.last_epoch > self.total_steps:
            raise ValueError(
                f"OneCycleLR: tried to step {self.last_epoch} times; the specified number of "
                f"total steps is {self.total_steps}"
            )
        lr, momentum = self._values_at(self.last_epoch)
        if self.cycle_momentum:
            self._set_momentum(momentum)
        return lr

    def _values_at(self, step_num: int) -> tuple[float, float]:
        """(learning rate, momentum) at step ``step_num``."""
        anneal = _anneal_cos if self.anneal_strategy == "cos" else _anneal_linear
        phases = self._phases()
        start_step = 0.0
        for index, phase in enumerate(phases):
            if step_num <= phase.end_step or index == len(phases) - 1:
                pct = (step_num - start_step) / (phase.end_step - start_step)
                lr = anneal(getattr(self, phase.start_lr), getattr(self, phase.end_lr), pct)
                momentum = anneal(getattr(self, phase.start_momentum), getattr(self, phase.end_momentum), pct)
                return lr, momentum
            start_step = phase.end_step
        raise AssertionError("unreachable: the last phase always matches")

    def _phases(self) -> list[_Phase]:
        warmup_end = float(self.pct_start * self.total_steps) - 1
        cooldown_end = float(2 * self.pct_start * self.total_steps) - 2  # three phases only
        last = self.total_steps - 1
        if self.three_phase:
            return [
                _Phase(warmup_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                _Phase(cooldown_end, "max_lr", "initial_lr", "base_momentum", "max_momentum"),
                _Phase(last, "initial_lr", "min_lr", "max_momentum", "max_momentum"),
            ]
        return [
            _Phase(warmup_end, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
            _Phase(last, "max_lr", "min_lr", "base_momentum", "max_momentum"),
        ]

    def _set_momentum(self, momentum: float) -> None:
        if self.use_beta1:
            self.optimizer.betas = (momentum, self.optimizer.betas[1])
        else:
            self.optimizer.momentum = momentum

    def state_dict(self) -> dict[str, np.ndarray]:
        result = super().state_dict()
        result["anneal_strategy"] = np.array(_ANNEAL_STRATEGIES.index(self.anneal_strategy))
        return result

    def load_state_dict(self, state_dict: dict[str, np.ndarray]) -> None:
        state_dict = dict(state_dict)
        if "anneal_strategy" not in state_dict:
            raise ValueError("OneCycleLR.load_state_dict: missing keys ['anneal_strategy']")
        code = state_dict.pop("anneal_strategy")
        if np.shape(code) != () or int(code) not in range(len(_ANNEAL_STRATEGIES)):
            raise ValueError(
                f"OneCycleLR.load_state_dict: 'anneal_strategy' must be 0 (cos) or 1 (linear), got {code!r}"
            )
        super().load_state_dict(state_dict)
        self.anneal_strategy = _ANNEAL_STRATEGIES[int(code)]


def _anneal_cos(start: float, end: float, pct: float) -> float:
    """Cosine from ``start`` (pct 0) to ``end`` (pct 1)."""
    cos_out = math.cos(math.pi * pct) + 1
    return end + (start - end) / 2.0 * cos_out


def _anneal_linear(start: float, end: float, pct: float) -> float:
    """Straight line from ``start`` (pct 0) to ``end`` (pct 1)."""
    return (end - start) * pct + start


def _total_steps(total_steps: int | None, epochs: int | None, steps_per_epoch: int | None) -> int:
    if total_steps is not None:
        if not isinstance(total_steps, int) or total_steps <= 0:
            raise ValueError(f"OneCycleLR: expected positive integer total_steps, got {total_steps!r}")
        return total_steps
    if epochs is None or steps_per_epoch is None:
        raise ValueError("OneCycleLR: define either total_steps OR (epochs AND steps_per_epoch)")
    for name, value in (("epochs", epochs), ("steps_per_epoch", steps_per_epoch)):
        if not isinstance(value, int) or value <= 0:
            raise ValueError(f"OneCycleLR: expected positive integer {name}, got {value!r}")
    return epochs * steps_per_epoch


def _one_value(name: str, value) -> float:
    """A scalar setting, given as a number or (torch's per-group form) a one-element list."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(
                f"OneCycleLR: {name} must be a number or a one-element list (one parameter "
                f"group), got {len(value)} values"
            )
        value = value[0]
    return float(value)
