"""Optimizers and learning-rate schedules, with torch.optim's update rules and meanings."""

from .adam import Adam, AdamW
from .adaptive import Adadelta, Adagrad, RMSprop
from .lr_scheduler import CosineAnnealingLR, LRScheduler, StepLR
from .one_cycle import OneCycleLR
from .optimizer import Optimizer
from .sgd import SGD

__all__ = [
    "SGD",
    "Adagrad",
    "Adadelta",
    "RMSprop",
    "Adam",
    "AdamW",
    "Optimizer",
    "StepLR",
    "CosineAnnealingLR",
    "OneCycleLR",
    "LRScheduler",
]
