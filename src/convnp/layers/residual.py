"""Residual: a skip connection around a stack of layers, ``y = shortcut(x) + layers(x)`` (He et al., 2016)."""

from __future__ import annotations

from .base import Layer
from .container import Chain


class Residual(Layer):
    """Add a block's input (or a projection of it) to the block's output.

    Parameters
    ----------
    *layers : Layer
        The residual branch, applied in order (e.g. Conv → BN → ReLU → Conv → BN).
    shortcut : Layer, list of layers, or None
        The skip branch. None is the identity; when the branch changes the shape (stride,
        channels), use a projection such as ``Conv2d(c_in, c_out, 1, stride=2)`` or, as in ResNet,
        ``[Conv2d(..., 1, stride=2, bias=False), BatchNorm2d(c_out)]``; a list is wrapped in a
        :class:`~convnp.layers.container.Chain` (named like an ``nn.Sequential``).

    Attributes
    ----------
    layers : list of Layer (the branch); shortcut : Layer or None

    Parameter names are those of a torch module with attributes ``layers`` (an ``nn.Sequential``)
    and ``shortcut``: ``"layers.0.weight"``, ``"shortcut.weight"`` (``"shortcut.1.running_mean"``
    for a Sequential shortcut), so state dicts exchange with such a module unchanged.

    Backward: the gradient reaches ``x`` along both paths, ``dx = layers.backward(dy) +
    shortcut.backward(dy)`` (``+ dy`` for the identity).
    """

    def __init__(self, *layers, shortcut=None):
        super().__init__()
        if not layers:
            raise ValueError("Residual: give at least one layer for the residual branch")
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"Residual: argument {index} must be a layer such as cn.Conv2d(...), "
                                f"got {type(layer).__name__}")
        if isinstance(shortcut, (list, tuple)):
            shortcut = Chain(*shortcut)
        if shortcut is not None and not isinstance(shortcut, Layer):
            raise TypeError(f"Residual: shortcut must be a layer, a list of layers or None, "
                            f"got {type(shortcut).__name__}")
        self.branch = Chain(*layers)  # holds the list, named "layers" in children()
        self.shortcut = shortcut

    @property
    def layers(self) -> list:
        """The residual branch's layers (the list itself, shared with the branch)."""
        return self.branch.layers

    def children(self):
        named = {"layers": self.branch}
        if self.shortcut is not None:
            named["shortcut"] = self.shortcut
        return named

    def forward(self, x):
        out = self.branch.forward_labelled(x, f"{self!r}: layers.")  # backward: branch.backward
        skip = x if self.shortcut is None else self.shortcut.forward(x)
        self.check_shapes(x, out, skip)
        self._cache = out.shape
        return out + skip

    def check_shapes(self, x, out, skip):
        """A clear ValueError unless the branch's output ``out`` and ``skip`` can be added."""
        if skip.shape != out.shape:
            path = "the identity shortcut" if self.shortcut is None else f"shortcut {self.shortcut!r}"
            raise ValueError(f"{self!r}: the layers give shape {out.shape} but {path} gives "
                             f"{skip.shape} for input {x.shape}; they must match to be added. Use a "
                             f"shortcut that maps the input to the branch's shape, e.g. "
                             f"shortcut=Conv2d(in_channels, out_channels, 1, stride=stride)")

    def backward(self, dy):
        y_shape = self._saved()
        self._check_grad(dy, y_shape)
        dx = self.branch.backward(dy)
        skip = dy if self.shortcut is None else self.shortcut.backward(dy)
        return dx + skip

    def __repr__(self):
        count = len(self.layers)
        text = f"Residual({count} layer{'s' if count != 1 else ''}"
        if self.shortcut is not None:
            inner = getattr(self.shortcut, "layers", None)
            shortcut = " → ".join(map(repr, inner)) if isinstance(inner, list) else repr(self.shortcut)
            text += f", shortcut={shortcut}"
        return text + ")"
