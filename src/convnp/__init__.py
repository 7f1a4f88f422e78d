"""convnp: convolutional neural networks from scratch in NumPy.

Every layer has a hand-written forward and backward pass: :mod:`convnp.functional` is the
textbook a learner reads, :mod:`convnp.fast` the engine that computes the same numbers faster
(``cn.set_engine("reference")`` runs the textbook). Both are proven equal to PyTorch. Typical use::

    import convnp as cn
    model = cn.Sequential(cn.Conv2d(1, 8, 3), cn.ReLU(), cn.MaxPool2d(2), cn.Flatten(),
                          cn.Linear(8 * 13 * 13, 10))
    history = model.fit(x, y, loss=cn.CrossEntropyLoss(),
                        optimizer=cn.optim.Adam(model.parameters()), epochs=2)
"""

from . import datasets, explain, fast, functional, interop, models, optim, viz, workbook
from .engines import engine, get_engine, set_engine
from .gradcheck import GradcheckError, gradcheck
from .layers import (
    ELU,
    SELU,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Flatten,
    GlobalAvgPool2d,
    Layer,
    LeakyReLU,
    Linear,
    MaxPool2d,
    ReLU,
    Residual,
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
    "Dropout",
    "BatchNorm1d",
    "BatchNorm2d",
    "GlobalAvgPool2d",
    "Residual",
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
    "fast",
    "engine",
    "get_engine",
    "set_engine",
    "interop",
    "viz",
    "explain",
    "optim",
    "datasets",
    "models",
    "workbook",
    "__version__",
]
