"""Model zoo: named builders returning :class:`convnp.Sequential` (see :func:`build`)."""

from .zoo import (
    MODELS,
    build,
    cifar_resnet,
    cifar_resnet14,
    cifar_resnet20,
    cifar_small,
    deep_cnn,
    lenet5,
    names,
    seed000,
    seed002,
    simple_cnn,
)

__all__ = ["build", "names", "MODELS", "seed000", "seed002", "simple_cnn", "lenet5", "cifar_small",
           "deep_cnn", "cifar_resnet", "cifar_resnet14", "cifar_resnet20"]
