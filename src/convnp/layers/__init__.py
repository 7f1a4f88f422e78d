"""Layers: stateful wrappers that own Parameters, cache what backward needs, call functional."""

from .activations import ELU, SELU, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .base import Layer
from .container import Chain
from .conv import Conv2d
from .dropout import Dropout
from .global_pool import GlobalAvgPool2d
from .linear import Flatten, Linear
from .normalization import BatchNorm1d, BatchNorm2d
from .pooling import AvgPool2d, MaxPool2d
from .residual import Residual

__all__ = ["Layer", "Chain", "Conv2d", "MaxPool2d", "AvgPool2d", "Linear", "Flatten", "ReLU", "LeakyReLU",
           "Sigmoid", "Tanh", "ELU", "SELU", "Softplus", "Softmax", "Dropout", "BatchNorm1d", "BatchNorm2d",
           "GlobalAvgPool2d", "Residual"]
