"""Layers: stateful wrappers that own Parameters, cache what backward needs, call functional."""

from .activations import ELU, SELU, LeakyReLU, ReLU, Sigmoid, Softmax, Softplus, Tanh
from .base import Layer
from .conv import Conv2d
from .linear import Flatten, Linear
from .pooling import AvgPool2d, MaxPool2d

__all__ = ["Layer", "Conv2d", "MaxPool2d", "AvgPool2d", "Linear", "Flatten", "ReLU", "LeakyReLU",
           "Sigmoid", "Tanh", "ELU", "SELU", "Softplus", "Softmax"]
