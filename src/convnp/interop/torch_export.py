"""Export to PyTorch: build the ``torch.nn`` twin of a convnp model, with the same weights.

PyTorch is optional (the ``dev`` extra); importing this module does not import torch, calling
:func:`to_torch` does.
"""

from __future__ import annotations

import numpy as np

from .. import layers as L
from ..layers.container import Chain
from ._deps import require_torch


def _padding(layer):
    return layer.padding if isinstance(layer.padding, str) else tuple(layer.padding)


def _twin(layer, nn):
    """The torch.nn module computing the same function as ``layer`` (weights copied later)."""
    simple = {L.ReLU: nn.ReLU, L.Sigmoid: nn.Sigmoid, L.Tanh: nn.Tanh, L.SELU: nn.SELU,
              L.Flatten: nn.Flatten}
    if type(layer) in simple:
        return simple[type(layer)]()
    if isinstance(layer, Chain):  # a Sequential, or a list of layers such as a Residual's shortcut
        return nn.Sequential(*(_twin(child, nn) for child in layer.layers))
    if isinstance(layer, L.Residual):
        return _residual_class(nn)(nn.Sequential(*(_twin(child, nn) for child in layer.layers)),
                                   None if layer.shortcut is None else _twin(layer.shortcut, nn))
    if isinstance(layer, L.Conv2d):
        return nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size, layer.stride,
                         _padding(layer), bias=layer.bias is not None)
    if isinstance(layer, L.Linear):
        return nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None)
    return _parameter_free_twin(layer, nn)


def _parameter_free_twin(layer, nn):
    if isinstance(layer, (L.BatchNorm1d, L.BatchNorm2d)):
        kind = nn.BatchNorm1d if isinstance(layer, L.BatchNorm1d) else nn.BatchNorm2d
        return kind(layer.num_features, layer.eps, layer.momentum)
    if isinstance(layer, L.MaxPool2d):
        return nn.MaxPool2d(layer.kernel_size, layer.stride, layer.padding)
    if isinstance(layer, L.AvgPool2d):
        return nn.AvgPool2d(layer.kernel_size, layer.stride, layer.padding, count_include_pad=True)
    if isinstance(layer, L.GlobalAvgPool2d):
        return nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
    if isinstance(layer, L.Dropout):
        return nn.Dropout(layer.p)
    if isinstance(layer, L.LeakyReLU):
        return nn.LeakyReLU(layer.negative_slope)
    if isinstance(layer, L.ELU):
        return nn.ELU(layer.alpha)
    if isinstance(layer, L.Softplus):
        return nn.Softplus(layer.beta, layer.threshold)
    if isinstance(layer, L.Softmax):
        return nn.Softmax(layer.dim)
    raise TypeError(f"to_torch: no PyTorch twin known for {layer!r}")


def _residual_class(nn):
    """A torch module ``y = shortcut(x) + layers(x)`` with the attribute names of cn.Residual."""

    class Residual(nn.Module):
        def __init__(self, layers, shortcut):
            super().__init__()
            self.layers, self.shortcut = layers, shortcut

        def forward(self, x):
            return (x if self.shortcut is None else self.shortcut(x)) + self.layers(x)

    return Residual


def to_torch(model):
    """Return a ``torch.nn`` module computing the same function as ``model``, same weights.

    Parameters
    ----------
    model : Sequential or Layer

    Returns
    -------
    torch.nn.Module (``torch.nn.Sequential`` for a Sequential) in training mode like ``model``,
    with parameters and buffers of the same dtype; its ``state_dict`` keys equal
    ``model.state_dict()``'s, so ``load_state_dict`` moves weights either way without transposes.
    """
    torch = require_torch("to_torch")
    twin = _twin(model, torch.nn)
    dtype = getattr(torch, str(next(iter(model.state_dict().values()), np.zeros(0, np.float32)).dtype))
    twin = twin.to(dtype)
    state = {key: torch.from_numpy(np.array(value)) for key, value in model.state_dict().items()}
    twin.load_state_dict(state)
    return twin.train(model.training)
