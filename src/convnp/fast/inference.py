"""Inference by parts: a batch split over the engine's threads, each part through the whole model.

In evaluation mode nothing couples the images of a batch (BatchNorm uses its running
statistics, Dropout passes everything), so ``predict`` and ``evaluate`` can run a batch as
independent parts, one per thread, each through a plan of its own (:mod:`.planner`). Every
layer then works on both cores — the element-wise passes, pools and small convolutions too,
which the per-layer split of :mod:`.parallel` leaves on one — and the threads meet once per
batch instead of once per layer (docs/performance.md, "Threads").

Only ``predict`` and ``evaluate`` run this way: after ``forward`` a ``backward`` may follow, and
it needs the caches of one plan. A part must be worth a thread, as in the per-layer split: at
least ``parallel.PART_MIN_MACS`` multiply-adds, counted layer by layer from the image shape
(:func:`multiply_adds_per_image`). A model with any layer this module does not know (a
subclass, a user's own layer) runs whole on the caller's thread: its layers may not expect two
threads at once.
"""

from __future__ import annotations

import math

import numpy as np

from .. import layers as L
from ..functional.conv import conv_geometry
from ..functional.pooling import pool_geometry
from . import parallel
from .planner import plan

SAME_SHAPE = (L.ReLU, L.LeakyReLU, L.Sigmoid, L.Tanh, L.ELU, L.SELU, L.Softplus, L.Dropout, L.BatchNorm1d,
              L.BatchNorm2d)


def infer(layers, x, whole):
    """The model's output for ``x`` in evaluation mode, the batch in parts on the engine's threads
    when each part has enough work, else ``whole(x)`` (the model's own ``forward``).

    Parameters
    ----------
    layers : list of Layer
        The model's layers (a layer in training mode, or one this module does not know, makes
        the batch run whole).
    x : ndarray, shape (N, ...)
    whole : callable
        Runs the batch in one piece (so a model keeps its own plan and thread state).

    Returns
    -------
    ndarray, shape (N, ...): the parts' outputs in order, the same numbers as ``whole(x)`` up to
    float rounding (each part's products have fewer rows).
    """
    work = multiply_adds_per_image(layers, x.shape[1:]) if x.ndim >= 2 else None
    parts = [slice(0, len(x))] if work is None else parallel.image_parts(len(x), work, parallel.PART_MIN_MACS)
    if len(parts) == 1:
        return whole(x)
    outputs = parallel.run_parts(lambda part: plan(layers, training=False).forward(x[part]), parts)
    return np.concatenate(outputs, axis=0)


def multiply_adds_per_image(layers, image_shape, training: bool = False) -> int | None:
    """Multiply-adds of the convolutions and linear layers for one image of ``image_shape``
    (without the batch axis), or None when a layer is not one this module knows or the shapes
    do not fit (then the model runs whole, and reports any error itself). ``training``: layers
    in training mode count too (a split step exchanges what couples the parts, :mod:`.split`);
    else they make it None."""
    try:
        counted = _walk(list(getattr(layers, "layers", layers)), tuple(image_shape), training)
    except (ValueError, TypeError, IndexError):  # a shape the layers will reject with their own message
        return None
    return None if counted is None else counted[0]


def _walk(layers, shape, training=False):
    """``(multiply-adds, output shape)`` of ``layers`` for one image of ``shape``, or None."""
    total = 0
    for layer in layers:
        counted = _layer_work(layer, shape, training)
        if counted is None:
            return None
        work, shape = counted
        total += work
    return total, shape


def _layer_work(layer, shape, training=False):
    """``(multiply-adds, output shape)`` of one layer for one image, or None for an unknown one
    (or one in training mode: BatchNorm would take each part's statistics)."""
    kind = type(layer)
    if layer.training and not training:
        return None
    if kind in SAME_SHAPE:
        return 0, shape
    if kind is L.Softmax:  # along the batch axis it mixes the images: not by parts
        return None if layer.dim % (len(shape) + 1) == 0 else (0, shape)
    if kind is L.Flatten:
        return 0, (math.prod(shape),)
    if kind is L.Linear:
        if shape != (layer.in_features,):
            return None
        return layer.in_features * layer.out_features, (layer.out_features,)
    if kind is L.Conv2d:
        if len(shape) != 3 or shape[0] != layer.in_channels:
            return None
        *_, (oh, ow) = conv_geometry((1, *shape), layer.weight.shape, layer.stride, layer.padding)
        return oh * ow * layer.weight.size, (layer.out_channels, oh, ow)  # (O, OH, OW)
    if kind in (L.MaxPool2d, L.AvgPool2d):
        *_, (oh, ow) = pool_geometry((1, *shape), layer.kernel_size, layer.stride, layer.padding)
        return 0, (shape[0], oh, ow)
    if kind is L.GlobalAvgPool2d:
        return 0, shape[:1]
    if kind is L.Residual:
        return _residual_work(layer, shape, training)
    return None


def _residual_work(residual, shape, training):
    branch = _walk(residual.layers, shape, training)
    shortcut = (0, shape) if residual.shortcut is None else \
        _walk(getattr(residual.shortcut, "layers", [residual.shortcut]), shape, training)
    if branch is None or shortcut is None:
        return None
    return branch[0] + shortcut[0], branch[1]
