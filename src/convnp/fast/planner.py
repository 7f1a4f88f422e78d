"""The plan by which ``Sequential`` runs a model on the fast engine.

A plan is the model's layers as a list of steps, each with ``forward(x)`` and
``backward(dy, need_input_grad)``. Most steps are a layer itself. Three rewrites give the same
numbers with less work:

* **Pool before ReLU.** A ReLU directly followed by a MaxPool2d runs after the pool. ReLU is
  monotone, so ``max(relu(a), relu(b)) == relu(max(a, b))`` exactly (NaN included), and the
  gradients agree too: both orders send ``dy`` to the window's first maximum when it is
  positive, and nothing otherwise. After the pool the ReLU touches 1/(KH*KW) of the numbers.
* **Conv2d + ReLU.** A Conv2d that runs directly before a ReLU applies it to each piece of its
  output while that piece is still in cache: one pass over the activation in memory less.
* **No dx for the first layer** when the caller says nobody needs it (``fit`` trains with
  ``Sequential.backward(dy, input_grad=False)``): a first Conv2d or Linear skips that product.

Convolutions, linear and max-pool layers run as engine steps that call :mod:`convnp.fast`
directly (with the options above, and max-pool keeping its windows only when training); the
layers' own ``forward``/``backward`` stay as plain as the textbook. Under the reference engine
no plan is made: ``Sequential`` runs its plain loop. What each rewrite saves:
docs/performance.md, "Plan: fusion and reordering".
"""

from __future__ import annotations

import numpy as np

from ..layers import Conv2d, Linear, MaxPool2d, ReLU
from ..layers.container import call_labelled
from .activations import relu_backward
from .conv import conv2d_backward, conv2d_forward
from .linear import linear_backward
from .pooling import max_pool2d_backward, max_pool2d_forward


def execution_order(layers) -> list[int]:
    """Indices of ``layers`` in the order the plan runs them: the given order, except that a
    ReLU directly followed by a MaxPool2d runs after the pool (moving past consecutive pools
    one at a time)."""
    order = list(range(len(layers)))
    for k in range(len(order) - 1):
        if type(layers[order[k]]) is ReLU and type(layers[order[k + 1]]) is MaxPool2d:
            order[k], order[k + 1] = order[k + 1], order[k]
    return order


def plan(layers, training: bool = True) -> Plan:
    """The steps that run ``layers`` (a list, or a model's ``.layers``) on the fast engine."""
    layers = list(getattr(layers, "layers", layers))
    order = execution_order(layers)
    steps, k = [], 0
    while k < len(order):
        index, layer = order[k], layers[order[k]]
        follower = layers[order[k + 1]] if k + 1 < len(order) else None
        if type(layer) is Conv2d:
            fused = follower if type(follower) is ReLU else None
            steps.append((index, ConvStep(layer, fused, training)))
            k += 2 if fused is not None else 1
            continue
        if type(layer) is Linear:
            steps.append((index, LinearStep(layer)))
        elif type(layer) is MaxPool2d:
            steps.append((index, MaxPoolStep(layer, training)))
        else:
            steps.append((index, LayerStep(layer)))
        k += 1
    return Plan(steps)


class Plan:
    """Steps run in order; ``steps`` is a list of ``(layer index, step)``."""

    def __init__(self, steps):
        self.steps = steps

    def forward(self, x):
        for index, step in self.steps:
            x = call_labelled(step.forward, x, f"layer {index} ")
        return x

    def backward(self, dy, input_grad: bool = True):
        for position in range(len(self.steps) - 1, -1, -1):
            dy = self.steps[position][1].backward(dy, input_grad or position > 0)
        return dy if input_grad else None


class LayerStep:
    """A layer run as it is (its forward calls the engine's functions)."""

    def __init__(self, layer):
        self.layer = layer

    def forward(self, x):
        return self.layer.forward(x)

    def backward(self, dy, need_input_grad=True):
        return self.layer.backward(dy)


class ConvStep:
    """A Conv2d, and the ReLU after it when there is one (applied piece by piece, in cache).

    Twin of ``Conv2d.forward`` then ``ReLU.forward`` (and their backward in reverse).
    """

    def __init__(self, conv, relu=None, training=True):
        self.conv, self.relu, self.training = conv, relu, training
        self.cache = self.y = None

    def forward(self, x):
        conv = self.conv
        conv.check_input(x)
        bias = None if conv.bias is None else conv.bias.data
        self.y, self.cache = conv2d_forward(x, conv.weight.data, bias, conv.stride, conv.padding,
                                            relu=self.relu is not None, for_backward=self.training)
        return self.y

    def backward(self, dy, need_input_grad=True):
        conv = self.conv
        if self.cache is None:
            raise RuntimeError(f"{conv!r}: backward() called before forward(); run forward first")
        conv._check_grad(dy, self.y.shape)
        if self.relu is not None:
            dy = relu_backward(dy, self.y)  # the ReLU's output says where it let dy through
        dx, dweight, dbias = conv2d_backward(dy, self.cache, need_input_grad)
        np.copyto(conv.weight.grad, dweight)
        if conv.bias is not None:
            np.copyto(conv.bias.grad, dbias)
        return dx


class LinearStep:
    """A Linear whose backward writes ``dW`` straight into the weight's gradient and skips
    ``dx`` when nobody needs it. Twin of ``Linear.forward`` / ``Linear.backward``."""

    def __init__(self, layer):
        self.layer, self.x = layer, None

    def forward(self, x):
        y = self.layer.forward(x)  # checks x
        self.x = x
        return y

    def backward(self, dy, need_input_grad=True):
        layer = self.layer
        if self.x is None:
            raise RuntimeError(f"{layer!r}: backward() called before forward(); run forward first")
        layer._check_grad(dy, (self.x.shape[0], layer.out_features))
        dx, _, dbias = linear_backward(dy, self.x, layer.weight.data, layer.bias is not None,
                                       need_input_grad, dweight_out=layer.weight.grad)
        if layer.bias is not None:
            np.copyto(layer.bias.grad, dbias)
        return dx


class MaxPoolStep:
    """A MaxPool2d that keeps its gathered windows for backward only when training.
    Twin of ``MaxPool2d.forward`` / ``MaxPool2d.backward``."""

    def __init__(self, layer, training):
        self.layer, self.training = layer, training
        self.cache = self.y_shape = None

    def forward(self, x):
        layer = self.layer
        layer.check_input(x)
        y, self.cache = max_pool2d_forward(x, layer.kernel_size, layer.stride, layer.padding,
                                           for_backward=self.training)
        self.y_shape = y.shape
        return y

    def backward(self, dy, need_input_grad=True):
        if self.cache is None:
            raise RuntimeError(f"{self.layer!r}: backward() called before forward(); run forward first")
        self.layer._check_grad(dy, self.y_shape)
        return max_pool2d_backward(dy, self.cache)
