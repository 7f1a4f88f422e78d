"""Put a learner's layer inside a convnp model, and train models a few steps, reproducibly."""

from __future__ import annotations

import time

import numpy as np

from ..layers import Layer
from ..losses import CrossEntropyLoss
from ..optim import SGD
from ..parameter import Parameter
from .learner import as_array, attribute, call


class LearnerLayer(Layer):
    """A convnp :class:`Layer` around a *Deep Learning from Scratch* style object.

    Parameters
    ----------
    factory : callable(*arrays) -> object
        Builds the learner's object from the current parameter values (rebuilt every forward,
        so it sees the optimizer's updates whether or not it copied its arrays).
    params : dict of str -> (ndarray, str)
        Parameter name -> (initial value, the attribute where backward leaves its gradient).
    label : str
        The class name, for messages.
    backward_factory : callable, optional
        For forward-only exercises: builds the object whose backward is used (the reference),
        run forward on the same input first.
    train_flag : bool
        Whether forward takes ``train_flg`` (batch norm, dropout).
    watch : bool
        Whether to check that forward and backward leave their argument unchanged.
    """

    def __init__(self, factory, params: dict, label: str, backward_factory=None, train_flag=False,
                 watch=True):
        super().__init__()
        self._watch = watch
        self.seconds = 0.0  # time spent in the learner's forward and backward
        self._factory, self._label = factory, label
        self._backward_factory, self._train_flag = backward_factory, train_flag
        self._grad_attributes = {}
        for name, (value, grad_attribute) in params.items():
            setattr(self, name, Parameter(np.array(value, dtype=np.float64), name=name))
            self._grad_attributes[name] = grad_attribute

    def _arrays(self):
        return [getattr(self, name).data for name in self._grad_attributes]

    def forward(self, x):
        started = time.perf_counter()
        try:
            return self._forward(x)
        finally:
            self.seconds += time.perf_counter() - started

    def backward(self, dy):
        started = time.perf_counter()
        try:
            return self._backward(dy)
        finally:
            self.seconds += time.perf_counter() - started

    def _forward(self, x):
        self._inner = self._factory(*self._arrays())
        args = (x, self.training) if self._train_flag else (x,)
        out = call(f"{self._label}.forward", self._inner.forward, *args, names=("x",), watch=self._watch)
        self._x = x
        return as_array(out, f"{self._label}.forward's return value")

    def _backward(self, dy):
        inner = self._inner
        if self._backward_factory is not None:
            inner = self._backward_factory(*self._arrays())
            inner.forward(self._x)
        dx = as_array(call(f"{self._label}.backward", inner.backward, dy, names=("dout",), watch=self._watch),
                      f"{self._label}.backward's return value")
        for name, grad_attribute in self._grad_attributes.items():
            getattr(self, name).grad[...] = attribute(inner, grad_attribute, self._label)
        return dx

    def __repr__(self) -> str:
        return f"your {self._label}"


def toy_data(shape, classes=3, count=16, seed=0):
    """A small, learnable classification batch: inputs (count, *shape) float64, labels (count,)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((count, *shape))
    labels = (x.reshape(count, -1)[:, :classes].argmax(axis=1)).astype(np.int64)
    return x, labels


def train_steps(model, x, labels, steps=5, lr=0.1, optimizer=None, loss=None) -> list[float]:
    """Full-batch SGD on (x, labels); return the loss before every step."""
    loss = loss or CrossEntropyLoss()
    optimizer = optimizer or SGD(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        value = loss(model.forward(x), labels)
        losses.append(float(value))
        model.backward(loss.backward())
        optimizer.step()
    return losses
