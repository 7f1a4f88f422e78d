"""The model: Sequential, its training loop, callbacks and safe serialisation."""

from .callbacks import Callback, History
from .sequential import Sequential
from .serialization import load_model, save_model
from .training import NonFiniteLossError

__all__ = ["Sequential", "Callback", "History", "load_model", "save_model", "NonFiniteLossError"]
