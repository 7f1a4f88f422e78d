"""Chain: layers applied one after another — the container that Sequential and Residual build on."""

from __future__ import annotations

from .base import Layer


class Chain(Layer):
    """Apply layers in order; back-propagate through them in reverse.

    Parameters
    ----------
    *layers : Layer
        Applied first to last. ``chain.layers`` is the list; ``chain[i]`` one layer.

    The forward pass is the loop a learner would write::

        for layer in self.layers:
            x = layer.forward(x)

    and backward is the same loop reversed, each layer turning ``d loss / d output`` into
    ``d loss / d input``. Parameter names follow torch's ``nn.Sequential`` (``"0.weight"``,
    ``"2.1.bias"``), through :meth:`children`. :class:`convnp.Sequential` adds training
    (``fit``, ``evaluate``, ``predict``, ``save``) and runs on the fast engine's plan.
    """

    def __init__(self, *layers):
        super().__init__()
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise TypeError(f"{type(self).__name__}: argument {index} must be a layer such as "
                                f"cn.Conv2d(...), got {type(layer).__name__}")
        self.layers = list(layers)

    def children(self):
        return {str(index): layer for index, layer in enumerate(self.layers)}

    def forward(self, x):
        """Apply every layer in order; an error names the failing layer's index."""
        return self.forward_labelled(x, "layer ")

    def forward_labelled(self, x, prefix: str):
        """:meth:`forward`, naming a failing layer as ``prefix`` + its index in the error."""
        for index, layer in enumerate(self.layers):
            x = call_labelled(layer.forward, x, f"{prefix}{index} ")
        return x

    def backward(self, dy):
        """Back-propagate ``dy`` through every layer in reverse; fills grads, returns dx."""
        for layer in reversed(self.layers):
            dy = layer.backward(dy)
        return dy

    def __getitem__(self, index):
        if isinstance(index, slice):
            return type(self)(*self.layers[index])
        return self.layers[index]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self):
        inner = "".join(f"\n  ({index}): " + repr(layer).replace("\n", "\n  ")
                        for index, layer in enumerate(self.layers))
        name = type(self).__name__
        return f"{name}({inner}\n)" if self.layers else f"{name}()"


def call_labelled(function, x, label: str):
    """``function(x)``, with ``label`` put in front of a ValueError's or TypeError's message
    (so an error deep in a model says which layer it came from)."""
    try:
        return function(x)
    except (ValueError, TypeError) as error:
        if type(error) not in (ValueError, TypeError):  # subclasses carry their own meaning
            raise
        raise type(error)(f"{label}{error}") from None
