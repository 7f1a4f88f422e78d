"""Base class of the optimizers: parameter list, per-parameter state, ``state_dict``.

Every optimizer follows the update rules of ``torch.optim`` exactly (default flags: no
``maximize``, no ``amsgrad``, no ``centered``, zero dampening), so a convnp run and a torch run
fed the same gradients follow the same trajectory.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..parameter import Parameter


class EmptyParameterListError(TypeError, ValueError):
    """No parameter was given to an optimizer.

    A ``TypeError`` like every other bad ``params`` argument, and a ``ValueError`` as in torch.optim
    (``"optimizer got an empty parameter list"``), so code written for either catches it.
    """


class Optimizer:
    """Base class: updates a list of Parameters in place from their gradients.

    Subclasses set ``_hyperparameter_names`` (public attributes that a schedule may change and
    that ``state_dict`` saves) and ``_state_names`` (torch's names of the per-parameter state),
    and implement ``_validate``, ``_init_state`` and ``_update``.

    Parameters
    ----------
    params : iterable of Parameter
        The parameters to train, e.g. ``model.parameters()``. Stored as the list ``self.params``;
        a parameter's position in it is its index in ``state_dict`` keys.

    Attributes
    ----------
    params : list of Parameter
    state : dict of Parameter to dict
        Per-parameter state (arrays with the parameter's shape and dtype, and an int ``"step"``),
        keyed by the Parameter object and created at its first ``step``.
    initial_lr : float or None
        The learning rate a schedule started from (set by the first schedule attached, as torch's
        ``group["initial_lr"]``); None without a schedule.
    """

    _hyperparameter_names: tuple[str, ...] = ("lr",)
    _state_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Parameter]):
        self.params = _as_parameter_list(params, type(self).__name__)
        self.state: dict[Parameter, dict[str, np.ndarray | int]] = {}
        self.initial_lr: float | None = None
        self._scratch: dict[tuple[Parameter, str], np.ndarray] = {}

    def step(self) -> None:
        """Update every parameter in place from its current ``grad``."""
        for param in self.params:
            state = self.state.get(param)
            if state is None:
                state = self.state[param] = self._init_state(param)
            self._update(param, state)

    def zero_grad(self) -> None:
        """Set every parameter's ``grad`` to zeros, in place."""
        for param in self.params:
            param.grad.fill(0)

    # ----------------------------------------------------------------------------------------
    # Hooks for subclasses

    def _validate(self) -> None:
        """Raise ValueError when a hyperparameter is out of range."""
        self._check_non_negative("lr", self.lr)

    def _init_state(self, param: Parameter) -> dict[str, np.ndarray | int]:
        """Return the state of ``param`` before its first step."""
        return {}

    def _update(self, param: Parameter, state: dict) -> None:
        """Apply one update to ``param.data`` in place and advance ``state``."""
        raise NotImplementedError

    # ----------------------------------------------------------------------------------------
    # Helpers for subclasses

    def _check_non_negative(self, name: str, value: float) -> None:
        if not value >= 0.0:  # also rejects NaN
            raise ValueError(f"{type(self).__name__}: invalid {name} {value!r}; expected {name} >= 0")

    def _buffer(self, param: Parameter, slot: str) -> np.ndarray:
        """A scratch array like ``param.data``, reused across steps (never part of the state)."""
        key = (param, slot)
        buffer = self._scratch.get(key)
        if buffer is None or buffer.shape != param.data.shape or buffer.dtype != param.data.dtype:
            buffer = self._scratch[key] = np.empty_like(param.data)
        return buffer

    def _gradient(self, param: Parameter, weight_decay: float) -> np.ndarray:
        """The gradient with torch's L2 penalty, ``g = grad + weight_decay * data``. Read-only.

        Without decay this is ``param.grad`` itself, so callers must never write to it.
        """
        if weight_decay == 0:
            return param.grad
        decayed = self._buffer(param, "decayed_grad")
        np.multiply(param.data, weight_decay, out=decayed)
        decayed += param.grad
        return decayed

    # ----------------------------------------------------------------------------------------
    # Checkpoints

    def state_dict(self) -> dict[str, np.ndarray]:
        """Hyperparameters and per-parameter state as a flat dict of NumPy arrays.

        Keys are the hyperparameter names (``"lr"``, ``"betas"``, …, and ``"initial_lr"`` once a
        schedule set it) and ``"state.<index>.<name>"`` with ``index`` the parameter's position in
        ``params`` (``"state.3.exp_avg"``, ``"state.3.step"``). No object arrays, so the result
        can be saved with ``np.savez`` and read back with ``allow_pickle=False``.
        """
        result = {name: np.array(getattr(self, name)) for name in self._hyperparameter_names}
        if self.initial_lr is not None:
            result["initial_lr"] = np.array(self.initial_lr)
        for index, param in enumerate(self.params):
            for name, value in self.state.get(param, {}).items():
                result[f"state.{index}.{name}"] = np.array(value)  # a copy
        return result

    def load_state_dict(self, state_dict: dict[str, np.ndarray]) -> None:
        """Restore what ``state_dict`` saved, so that training resumes bit-identically.

        Raises
        ------
        ValueError
            On a missing or unexpected key, a shape that does not match, or a loaded
            hyperparameter out of range. Nothing is changed in that case.
        """
        hyperparameters = {"initial_lr": None}
        states: dict[int, dict[str, np.ndarray]] = {}
        for key, value in state_dict.items():
            if key.startswith("state."):
                index, name = self._parse_state_key(key)
                states.setdefault(index, {})[name] = value
            elif key in self._hyperparameter_names or key == "initial_lr":
                current = getattr(self, key)
                hyperparameters[key] = from_array(value, like=current, key=key, owner=self)
            else:
                raise ValueError(f"{type(self).__name__}.load_state_dict: unexpected key {key!r}")
        missing = [name for name in self._hyperparameter_names if name not in hyperparameters]
        if missing:
            raise ValueError(f"{type(self).__name__}.load_state_dict: missing keys {missing}")
        new_state = {
            self.params[index]: self._loaded_param_state(index, entries) for index, entries in states.items()
        }
        self._set_hyperparameters(hyperparameters)
        self.state = new_state

    def _parse_state_key(self, key: str) -> tuple[int, str]:
        _, index_text, name = (key.split(".", 2) + ["", ""])[:3]
        if not index_text.isdigit() or int(index_text) >= len(self.params):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: key {key!r} names no parameter "
                f"(expected an index in 0..{len(self.params) - 1})"
            )
        if name not in self._state_names:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: unexpected key {key!r} "
                f"(state names are {list(self._state_names)})"
            )
        return int(index_text), name

    def _loaded_param_state(self, index: int, entries: dict[str, np.ndarray]) -> dict:
        """Check one parameter's loaded state against its shape; return copies in its dtype."""
        param = self.params[index]
        required = self._init_state(param).keys()
        missing = [name for name in required if name not in entries]
        if missing:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: parameter {index} lacks state {missing}"
            )
        state: dict[str, np.ndarray | int] = {}
        for name, value in entries.items():
            expected_shape = () if name == "step" else param.shape
            if np.shape(value) != expected_shape:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: 'state.{index}.{name}' has shape "
                    f"{np.shape(value)}, expected {expected_shape}"
                )
            state[name] = int(value) if name == "step" else np.array(value, dtype=param.dtype)
        return state

    def _set_hyperparameters(self, values: dict) -> None:
        """Assign hyperparameters, validating them; on a bad value restore the old ones."""
        old_values = {name: getattr(self, name) for name in values}
        for name, value in values.items():
            setattr(self, name, value)
        try:
            self._validate()
        except ValueError:
            for name, value in old_values.items():
                setattr(self, name, value)
            raise

    def __repr__(self) -> str:
        settings = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._hyperparameter_names)
        return f"{type(self).__name__}({len(self.params)} parameters, {settings})"


def _as_parameter_list(params, owner: str) -> list[Parameter]:
    """Check that ``params`` is a non-empty iterable of distinct Parameters; return it as a list."""
    if isinstance(params, Parameter) or not isinstance(params, Iterable):
        raise TypeError(
            f"{owner}: params must be an iterable of Parameter (e.g. model.parameters()), "
            f"got {type(params).__name__}"
        )
    params = list(params)
    if not params:
        raise EmptyParameterListError(f"{owner}: optimizer got an empty parameter list")
    for position, param in enumerate(params):
        if not isinstance(param, Parameter):
            raise TypeError(
                f"{owner}: params must contain only Parameter objects, "
                f"got {type(param).__name__} at position {position}"
            )
    if len({id(param) for param in params}) != len(params):
        raise ValueError(f"{owner}: some parameters appear more than once in params")
    return params


def from_array(value, *, like, key: str, owner):
    """Convert a saved array back to the Python type of the attribute ``like`` it replaces."""
    if np.shape(value) != np.shape(like):
        raise ValueError(
            f"{type(owner).__name__}.load_state_dict: {key!r} has shape {np.shape(value)}, "
            f"expected {np.shape(like)}"
        )
    array = np.asarray(value)
    if isinstance(like, bool):
        return bool(array)
    if isinstance(like, int):
        return int(array)
    if isinstance(like, (tuple, list)):
        return type(like)(float(item) for item in array)
    return float(array)
