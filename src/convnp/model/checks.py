"""Checks of what ``fit``, ``evaluate`` and ``predict`` are given, before any work is done.

Each raises a ``TypeError``/``ValueError`` that names the call (``who``), what was wrong, what
was expected and what was given — instead of a silent wrong answer (an accuracy for NaN inputs
or for labels outside the classes) or an error from deep inside NumPy.
"""

from __future__ import annotations

import numbers

import numpy as np


def check_data(x, y, who: str, need_y: bool = True) -> None:
    """Clear errors for data ``fit``/``evaluate``/``predict`` cannot use.

    ``x`` must be a floating-point array (N, ...) of finite values; ``y`` a NumPy array with N
    rows: integer labels (N,) or finite float targets (N, ...). Float labels (N,) are refused
    rather than silently scored as "no classification".
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{who}: x must be a NumPy array, got {type(x).__name__}")
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{who}: x has dtype {x.dtype}; convert it to floating point first, "
                        f"e.g. x.astype(np.float32) / 255 for 8-bit images")
    if x.ndim < 2 or x.shape[0] == 0:
        raise ValueError(f"{who}: x must have shape (N, ...) with N >= 1, got {x.shape}")
    _check_finite(x, "x", who)
    if not need_y:
        return
    if not isinstance(y, np.ndarray):
        raise TypeError(f"{who}: y must be a NumPy array, got {type(y).__name__}; "
                        f"convert it with np.asarray(y)")
    if y.ndim == 0 or len(y) != len(x):
        raise ValueError(f"{who}: x has {len(x)} samples but y has {len(y) if y.ndim else 0} "
                         f"(shape {y.shape})")
    if y.ndim == 1 and not np.issubdtype(y.dtype, np.integer):
        raise TypeError(f"{who}: y holds {y.dtype} labels; class labels must be integers, e.g. "
                        f"y.astype(np.int64) (or give (N, K) class probabilities)")
    if y.dtype.kind not in "iuf":
        raise TypeError(f"{who}: y has dtype {y.dtype}; expected integer labels or float targets")
    if y.dtype.kind == "f":
        _check_finite(y, "y", who)


def _check_finite(array, name, who) -> None:
    if not np.all(np.isfinite(array)):
        bad = np.flatnonzero(~np.isfinite(array.reshape(len(array), -1)).all(axis=1))
        raise ValueError(f"{who}: {name} holds NaN or infinite values in {len(bad)} of its "
                         f"{len(array)} samples (the first is sample {bad[0]}); expected finite "
                         f"numbers")


def check_labels(output, y, who: str) -> None:
    """Integer labels must name one of the model's K outputs: 0 <= label < K."""
    if y.ndim == 1 and output.ndim == 2 and y.size:
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= output.shape[1]:
            raise ValueError(f"{who}: labels must be in [0, {output.shape[1] - 1}] for a model with "
                             f"{output.shape[1]} outputs, got values in [{low}, {high}]")


def check_optimizer(model, optimizer, who: str) -> None:
    """The optimizer must update this model's Parameters, not another model's copy."""
    if isinstance(optimizer, type) or not callable(getattr(optimizer, "step", None)):
        raise TypeError(f"{who}: optimizer must be an optimizer such as "
                        f"cn.optim.Adam(model.parameters()), got {type(optimizer).__name__}")
    params = getattr(optimizer, "params", None)
    if params is None:
        return
    own = {id(p) for p in model.parameters()}
    foreign = [p for p in params if id(p) not in own]
    if foreign or (own and not params):
        raise ValueError(f"{who}: the optimizer holds {len(foreign)} of {len(params)} parameters "
                         f"that are not this model's, so training would never change its weights; "
                         f"build it with optimizer(model.parameters())")


def check_loss(loss, who: str, required: bool = True) -> None:
    """``loss`` is a loss object (callable, with ``backward``), e.g. ``cn.CrossEntropyLoss()``."""
    if loss is None and not required:
        return
    if isinstance(loss, type) or not callable(loss) or not callable(getattr(loss, "backward", None)):
        raise TypeError(f"{who}: loss must be a loss object such as cn.CrossEntropyLoss() (note "
                        f"the parentheses), got {loss!r}")


def check_seed(seed, who: str) -> None:
    """``seed`` is None, a non-negative int or a numpy Generator."""
    if seed is None or isinstance(seed, np.random.Generator):
        return
    if not isinstance(seed, numbers.Integral) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"{who}: seed must be a non-negative int, a numpy Generator or None, "
                         f"got {seed!r}")
