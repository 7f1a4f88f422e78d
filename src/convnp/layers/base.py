"""The layer protocol: forward caches what backward needs; backward returns dx and fills grads."""

from __future__ import annotations

import numpy as np

from ..parameter import Parameter


class Layer:
    """Base class of every layer (and of containers such as Sequential).

    A subclass implements ``forward(x)`` (saving what ``backward`` needs in ``self._cache``) and
    ``backward(dy) -> dx`` (which also *overwrites* the ``grad`` of its Parameters). Parameters
    are found as attributes holding a :class:`Parameter`; containers expose sub-layers through
    :meth:`children`, which gives torch-style dotted names (``"0.weight"``, ``"4.layers.0.bias"``).
    """

    _buffer_names: tuple[str, ...] = ()  # non-trainable state saved in state_dict (e.g. running stats)

    def __init__(self):
        self.training = True
        self._cache = None

    def __call__(self, x):
        return self.forward(x)

    def forward(self, x):  # pragma: no cover - documented interface
        raise NotImplementedError

    def backward(self, dy):  # pragma: no cover - documented interface
        raise NotImplementedError

    # ---- structure -------------------------------------------------------------------------
    def children(self) -> dict[str, Layer]:
        """Named sub-layers (none for a plain layer)."""
        return {}

    def named_parameters(self, prefix: str = "") -> dict[str, Parameter]:
        """Parameters by torch-style name, own ones first, then each child's with its prefix."""
        params = {prefix + name: value for name, value in vars(self).items()
                  if isinstance(value, Parameter)}
        for name, child in self.children().items():
            params.update(child.named_parameters(f"{prefix}{name}."))
        return params

    def named_buffers(self, prefix: str = "") -> dict[str, np.ndarray]:
        """Non-trainable arrays that belong in the state dict, by torch-style name."""
        buffers = {prefix + name: getattr(self, name) for name in self._buffer_names}
        for name, child in self.children().items():
            buffers.update(child.named_buffers(f"{prefix}{name}."))
        return buffers

    def parameters(self) -> list[Parameter]:
        """All trainable Parameters, in ``named_parameters`` order."""
        return list(self.named_parameters().values())

    def train(self, mode: bool = True):
        """Switch to training (``mode=True``) or evaluation behaviour, recursively."""
        self.training = mode
        for child in self.children().values():
            child.train(mode)
        return self

    def eval(self):
        """Switch to evaluation behaviour (same as ``train(False)``)."""
        return self.train(False)

    # ---- state -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of all parameters and buffers, keyed like torch's ``state_dict``."""
        state = {name: p.data.copy() for name, p in self.named_parameters().items()}
        state.update({name: np.array(b, copy=True) for name, b in self.named_buffers().items()})
        return state

    def load_state_dict(self, state: dict, strict: bool = True) -> None:
        """Copy arrays from ``state`` into the existing parameters and buffers (no transposes).

        Raises
        ------
        KeyError
            With ``strict``, on missing or unexpected keys (all of them are listed).
        ValueError
            On a shape mismatch, naming the key, the expected and the given shape.
        TypeError
            On values that are not numbers (strings, objects).

        Every entry is checked and converted before the first is copied: a failure changes
        nothing.
        """
        if not isinstance(state, dict):
            raise TypeError(f"{type(self).__name__}.load_state_dict: expected a dict of arrays "
                            f"(from state_dict()), got {type(state).__name__}")
        targets = {name: p.data for name, p in self.named_parameters().items()}
        targets.update(self.named_buffers())
        missing = sorted(set(targets) - set(state))
        unexpected = sorted(set(state) - set(targets))
        if strict and (missing or unexpected):
            raise KeyError(f"{type(self).__name__}.load_state_dict: missing keys {missing}, "
                           f"unexpected keys {unexpected}")
        staged = {name: self._staged_value(name, state[name], targets[name])
                  for name in targets if name in state}
        for name, value in staged.items():  # every entry checked and converted: now copy
            targets[name][...] = value

    def _staged_value(self, name, value, target) -> np.ndarray:
        """``value`` converted to ``target``'s dtype after checking its shape and contents.

        Nothing is copied into the model here, so a bad last entry leaves every weight unchanged.
        """
        who = f"{type(self).__name__}.load_state_dict"
        try:
            array = np.asarray(value)
        except ValueError:  # e.g. a ragged nested list
            raise ValueError(f"{who}: {name!r} is not an array of numbers") from None
        shape = array.shape
        if shape != target.shape:
            raise ValueError(f"{who}: {name!r} has shape {shape}, expected {target.shape}")
        if array.dtype.kind not in "fiub":
            raise TypeError(f"{who}: {name!r} has dtype {array.dtype}, expected numbers "
                            f"(a {target.dtype} array)")
        return array.astype(target.dtype, copy=False)

    def config(self) -> dict:
        """Constructor arguments as JSON-compatible values (used by ``save``/``load_model``)."""
        return {}

    def _drop_caches(self) -> None:
        """Forget what the last forward pass saved for backward, here and in every sub-layer."""
        self._cache = None
        for child in self.children().values():
            child._drop_caches()

    # ---- helpers for subclasses ------------------------------------------------------------
    def _saved(self):
        """The forward cache, or a clear RuntimeError if ``forward`` has not run yet."""
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward() called before forward(); run forward first")
        return self._cache

    def _check_input(self, x, ndim: int | None, layout: str, axis: int | None = None,
                     expected: int | None = None, dtype=None) -> None:
        """Raise a TypeError/ValueError naming this layer if ``x`` is not what it takes.

        ``layout`` describes the expected shape in words, e.g. ``"(N, 3, H, W)"``; ``ndim=None``
        accepts any rank.
        """
        if not isinstance(x, np.ndarray):
            raise TypeError(f"{self!r}: expected a NumPy array {layout}, got {type(x).__name__}")
        if x.dtype.kind != "f":  # float16/32/64/longdouble; np.issubdtype says the same, slower
            raise TypeError(f"{self!r}: expected a floating-point array, got dtype {x.dtype}; "
                            f"convert with x.astype(np.float32)")
        if (ndim is not None and x.ndim != ndim) or (axis is not None and x.shape[axis] != expected):
            raise ValueError(f"{self!r}: expected input of shape {layout}, got {x.shape}")
        if dtype is not None and x.dtype != dtype:
            raise TypeError(f"{self!r}: expected {dtype} input (the layer's dtype), got {x.dtype}; "
                            f"convert with x.astype(np.{dtype}) or build the layer with "
                            f"dtype=np.{x.dtype}")

    def _check_grad(self, dy, shape) -> None:
        """Raise a ValueError naming this layer if the upstream gradient has the wrong shape."""
        if not isinstance(dy, np.ndarray) or dy.shape != tuple(shape):
            got = dy.shape if isinstance(dy, np.ndarray) else type(dy).__name__
            raise ValueError(f"{self!r}: backward expected dy of shape {tuple(shape)} (the shape "
                             f"of the last forward output), got {got}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
