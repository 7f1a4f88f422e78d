"""Named model builders: the classic small CNNs, each for any input shape and class count."""

from __future__ import annotations

import math

import numpy as np

from .. import layers as L
from ..init import as_generator
from ..model.sequential import Sequential


def _flat_size(features, input_shape, name) -> int:
    """Number of features after the convolutional part, found by a forward pass of one zero image."""
    probe = Sequential(*features)
    try:
        out = probe.eval().forward(np.zeros((1, *input_shape), dtype=np.float32))
    except ValueError as error:
        raise ValueError(f"model {name!r} cannot take inputs of shape {tuple(input_shape)}: "
                         f"{error}") from None
    finally:
        probe.train()  # the layers are shared with the model being built: leave them training
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


def _child_generator(rng) -> np.random.Generator:
    """An independent Generator for a Dropout layer's masks, seeded from the builder's ``rng``."""
    return np.random.default_rng(int(rng.integers(2**63)))


def deep_cnn(input_shape=(1, 28, 28), num_classes=10, rng=None) -> Sequential:
    """*Deep Learning from Scratch*'s DeepConvNet: three blocks of two 3x3 convs (padding 1) with
    ReLU, each block followed by MaxPool 2 (16-16, 32-32, 64-64 channels), then Linear 50 → ReLU →
    Dropout 0.5 → Linear.

    28x28 input: (16, 28, 28) → (16, 14, 14) → (32, 14, 14) → (32, 7, 7) → (64, 7, 7) →
    (64, 3, 3) → 576 → 50 → num_classes. (The book pads its fourth conv by 2 to pool 16 → 8;
    here every conv pads 1.)
    """
    rng = as_generator(rng)
    channels, features = input_shape[0], []
    for width in (16, 32, 64):
        features += [L.Conv2d(channels, width, 3, padding=1, rng=rng), L.ReLU(),
                     L.Conv2d(width, width, 3, padding=1, rng=rng), L.ReLU(), L.MaxPool2d(2)]
        channels = width
    flat = _flat_size(features, input_shape, "deep-cnn")
    return Sequential(*features, L.Flatten(), L.Linear(flat, 50, rng=rng), L.ReLU(),
                      L.Dropout(0.5, rng=_child_generator(rng)), L.Linear(50, num_classes, rng=rng))


def _basic_block(in_channels, out_channels, stride, rng) -> list:
    """ResNet's basic block: Residual(Conv 3x3 → BN → ReLU → Conv 3x3 → BN) followed by ReLU.

    When the shape changes (stride or width) the shortcut is a 1x1 Conv (same stride) + BN.
    """
    shortcut = None
    if stride != 1 or in_channels != out_channels:
        shortcut = Sequential(L.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False, rng=rng),
                              L.BatchNorm2d(out_channels))
    branch = [L.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False, rng=rng),
              L.BatchNorm2d(out_channels), L.ReLU(),
              L.Conv2d(out_channels, out_channels, 3, padding=1, bias=False, rng=rng),
              L.BatchNorm2d(out_channels)]
    return [L.Residual(*branch, shortcut=shortcut), L.ReLU()]


def cifar_resnet(input_shape=(3, 32, 32), num_classes=10, rng=None, blocks_per_stage=1) -> Sequential:
    """A small ResNet for 32x32 images (He et al., 2016, CIFAR variant), ResNet-8 by default.

    Stem Conv 16@3x3 → BN → ReLU, then three stages of ``blocks_per_stage`` basic blocks with
    16, 32 and 64 channels (the first block of stages 2 and 3 has stride 2 and a 1x1 stride-2
    Conv + BN shortcut), GlobalAvgPool2d, Linear. Convs before a BN have no bias.
    32x32 input: (16, 32, 32) → (16, 32, 32) → (32, 16, 16) → (64, 8, 8) → 64 → num_classes.
    ``blocks_per_stage=2`` gives ResNet-14, 3 ResNet-20.
    """
    rng = as_generator(rng)
    layers = [L.Conv2d(input_shape[0], 16, 3, padding=1, bias=False, rng=rng), L.BatchNorm2d(16), L.ReLU()]
    channels = 16
    for stage, width in enumerate((16, 32, 64)):
        for block in range(blocks_per_stage):
            stride = 2 if stage > 0 and block == 0 else 1
            layers += _basic_block(channels, width, stride, rng)
            channels = width
    _flat_size(layers, input_shape, "cifar-resnet")  # a clear error for too-small inputs
    return Sequential(*layers, L.GlobalAvgPool2d(), L.Linear(channels, num_classes, rng=rng))


def cifar_resnet14(input_shape=(3, 32, 32), num_classes=10, rng=None) -> Sequential:
    """ResNet-14: :func:`cifar_resnet` with two basic blocks per stage (175k parameters)."""
    return cifar_resnet(input_shape, num_classes, rng=rng, blocks_per_stage=2)


def cifar_resnet20(input_shape=(3, 32, 32), num_classes=10, rng=None) -> Sequential:
    """ResNet-20 of He et al. (2016): :func:`cifar_resnet` with three blocks per stage (272k parameters)."""
    return cifar_resnet(input_shape, num_classes, rng=rng, blocks_per_stage=3)


MODELS = {"seed000": seed000, "seed002": seed002, "simple-cnn": simple_cnn, "lenet5": lenet5,
          "cifar-small": cifar_small, "deep-cnn": deep_cnn, "cifar-resnet": cifar_resnet,
          "cifar-resnet14": cifar_resnet14, "cifar-resnet20": cifar_resnet20}


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
