"""convnp: convolutional neural networks from scratch in NumPy.

Every layer has a hand-written forward and backward pass (see :mod:`convnp.functional` for the
math), proven equal to PyTorch's. Typical use::

    import convnp as cn
    model = cn.Sequential(cn.Conv2d(1, 8, 3), cn.ReLU(), cn.MaxPool2d(2), cn.Flatten(),
                          cn.Linear(8 * 13 * 13, 10))
    history = model.fit(x, y, loss=cn.CrossEntropyLoss(),
                        optimizer=cn.optim.Adam(model.parameters()), epochs=2)
"""

from . import datasets, functional, interop, models, optim
from .gradcheck import GradcheckError, gradcheck
from .layers import (
    ELU,
    SELU,
    AvgPool2d,
    Conv2d,
    Flatten,
    Layer,
    LeakyReLU,
    Linear,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Softmax,
    Softplus,
    Tanh,
)
from .losses import CrossEntropyLoss, Loss, MSELoss
from .model import (
    Callback,
    Checkpoint,
    History,
    LRSchedulerCallback,
    NonFiniteLossError,
    Sequential,
    load_model,
)
from .parameter import Parameter

__version__ = "0.1.0"

__all__ = [
    "Parameter",
    "Layer",
    "Conv2d",
    "MaxPool2d",
    "AvgPool2d",
    "Linear",
    "Flatten",
    "ReLU",
    "LeakyReLU",
    "Sigmoid",
    "Tanh",
    "ELU",
    "SELU",
    "Softplus",
    "Softmax",
    "Sequential",
    "CrossEntropyLoss",
    "MSELoss",
    "Loss",
    "Callback",
    "Checkpoint",
    "History",
    "LRSchedulerCallback",
    "NonFiniteLossError",
    "load_model",
    "gradcheck",
    "GradcheckError",
    "functional",
    "interop",
    "optim",
    "datasets",
    "models",
    "__version__",
]
