"""The model: Sequential, its training loop, callbacks and safe serialisation."""

from .callbacks import Callback, History, LRSchedulerCallback
from .checkpoint import Checkpoint, load_checkpoint, save_checkpoint
from .sequential import Sequential
from .serialization import load_model, save_model
from .training import NonFiniteLossError

__all__ = [
    "Sequential",
    "Callback",
    "History",
    "LRSchedulerCallback",
    "Checkpoint",
    "save_checkpoint",
    "load_checkpoint",
    "load_model",
    "save_model",
    "NonFiniteLossError",
]
