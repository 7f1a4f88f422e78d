"""Named model builders: the classic small CNNs, each for any input shape and class count."""

from __future__ import annotations

import math

import numpy as np

from .. import layers as L
from ..init import as_generator
from ..model.sequential import Sequential


def _flat_size(features, input_shape, name) -> int:
    """Number of features after the convolutional part, found by a forward pass of one zero image."""
    try:
        out = Sequential(*features).eval().forward(np.zeros((1, *input_shape), dtype=np.float32))
    except ValueError as error:
        raise ValueError(f"model {name!r} cannot take inputs of shape {tuple(input_shape)}: "
                         f"{error}") from None
    return math.prod(out.shape[1:])


def _classifier_head(features, input_shape, name, hidden, num_classes, rng):
    """Flatten, then Linear layers of the given hidden sizes with ReLU between, then the logits."""
    sizes = [_flat_size(features, input_shape, name), *hidden, num_classes]
    head = [L.Flatten()]
    for index, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        head.append(L.Linear(fan_in, fan_out, rng=rng))
        if index < len(sizes) - 2:
            head.append(L.ReLU())
    return head


def seed000(input_shape=(1, 28, 28), num_classes=10, rng=None) -> Sequential:
    """The classic first from-scratch CNN: Conv 8@3x3 → MaxPool 2 → Linear (no hidden layer).

    28x28 input: (8, 26, 26) → (8, 13, 13) → 1352 → num_classes. ~14k parameters.
    """
    rng = as_generator(rng)
    features = [L.Conv2d(input_shape[0], 8, 3, rng=rng), L.MaxPool2d(2)]
    return Sequential(*features, *_classifier_head(features, input_shape, "seed000", [], num_classes, rng))


def seed002(input_shape=(1, 28, 28), num_classes=10, rng=None) -> Sequential:
    """Two conv blocks: Conv 8@5x5 → ReLU → MaxPool 2 → Conv 16@5x5 → ReLU → MaxPool 2 → Linear.

    28x28 input: (8, 24, 24) → (8, 12, 12) → (16, 8, 8) → (16, 4, 4) → 256 → num_classes.
    """
    rng = as_generator(rng)
    features = [L.Conv2d(input_shape[0], 8, 5, rng=rng), L.ReLU(), L.MaxPool2d(2),
                L.Conv2d(8, 16, 5, rng=rng), L.ReLU(), L.MaxPool2d(2)]
    return Sequential(*features, *_classifier_head(features, input_shape, "seed002", [], num_classes, rng))


def simple_cnn(input_shape=(1, 28, 28), num_classes=10, rng=None) -> Sequential:
    """*Deep Learning from Scratch*'s SimpleConvNet: Conv 30@5x5 → ReLU → MaxPool 2 → Linear 100
    → ReLU → Linear.

    28x28 input: (30, 24, 24) → (30, 12, 12) → 4320 → 100 → num_classes.
    """
    rng = as_generator(rng)
    features = [L.Conv2d(input_shape[0], 30, 5, rng=rng), L.ReLU(), L.MaxPool2d(2)]
    head = _classifier_head(features, input_shape, "simple-cnn", [100], num_classes, rng)
    return Sequential(*features, *head)


def lenet5(input_shape=(1, 28, 28), num_classes=10, rng=None) -> Sequential:
    """LeNet-5 (LeCun et al., 1998) as usually rebuilt: tanh units and average-pool subsampling.

    Conv 6@5x5 pad 2 → Tanh → AvgPool 2 → Conv 16@5x5 → Tanh → AvgPool 2 → Linear 120 → Tanh
    → Linear 84 → Tanh → Linear num_classes. 28x28 input: (6, 28, 28) → (6, 14, 14) →
    (16, 10, 10) → (16, 5, 5) → 400 → 120 → 84 → num_classes.
    """
    rng = as_generator(rng)
    features = [L.Conv2d(input_shape[0], 6, 5, padding=2, rng=rng), L.Tanh(), L.AvgPool2d(2),
                L.Conv2d(6, 16, 5, rng=rng), L.Tanh(), L.AvgPool2d(2)]
    flat = _flat_size(features, input_shape, "lenet5")
    return Sequential(*features, L.Flatten(), L.Linear(flat, 120, rng=rng), L.Tanh(),
                      L.Linear(120, 84, rng=rng), L.Tanh(), L.Linear(84, num_classes, rng=rng))


def cifar_small(input_shape=(3, 32, 32), num_classes=10, rng=None) -> Sequential:
    """A VGG-style net for 32x32 colour images: two blocks of two 3x3 convs (32-32, 64-64), each
    block followed by MaxPool 2, then Linear 512 → ReLU → Linear.

    32x32 input: (32, 32, 32) → (32, 16, 16) → (64, 16, 16) → (64, 8, 8) → 4096 → 512 → classes.
    """
    rng = as_generator(rng)
    channels = input_shape[0]
    features = []
    for width in (32, 64):
        features += [L.Conv2d(channels, width, 3, padding=1, rng=rng), L.ReLU(),
                     L.Conv2d(width, width, 3, padding=1, rng=rng), L.ReLU(), L.MaxPool2d(2)]
        channels = width
    head = _classifier_head(features, input_shape, "cifar-small", [512], num_classes, rng)
    return Sequential(*features, *head)


MODELS = {"seed000": seed000, "seed002": seed002, "simple-cnn": simple_cnn, "lenet5": lenet5,
          "cifar-small": cifar_small}


def names() -> list[str]:
    """Names accepted by :func:`build` (and by ``convnp train --model``)."""
    return list(MODELS)


def build(name: str, input_shape=(1, 28, 28), num_classes: int = 10, rng=None) -> Sequential:
    """Build the zoo model ``name`` for inputs of ``input_shape`` (C, H, W) and ``num_classes``.

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones) or an input too small for the net.
    """
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise ValueError(f"model {name!r}: input_shape must be (C, H, W), got {tuple(input_shape)}")
    return MODELS[name](tuple(int(v) for v in input_shape), int(num_classes), rng=rng)
