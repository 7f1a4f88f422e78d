"""The plan by which ``Sequential`` runs a model on the fast engine.

A plan is the model's layers as a list of steps, each with ``forward(x)`` and
``backward(dy, need_input_grad)``. Most steps are a layer itself. Three rewrites give the same
numbers (up to float rounding where said) with less work:

* **Pool before ReLU.** A ReLU directly followed by a MaxPool2d runs after the pool. ReLU is
  monotone, so ``max(relu(a), relu(b)) == relu(max(a, b))`` exactly (NaN included), and the
  gradients agree too: both orders send ``dy`` to the window's first maximum when it is
  positive, and nothing otherwise. After the pool the ReLU touches 1/(KH*KW) of the numbers.
* **Conv2d + ReLU.** A Conv2d that runs directly before a ReLU applies it to each piece of its
  output while that piece is still in cache: one pass over the activation in memory less.
* **MaxPool2d + ReLU.** A MaxPool2d that runs directly before a ReLU (the ReLU moved there, as
  above) applies it to its output in place, and folds its backward into the pool's: the
  gradient reaches a window's maximum only where the pooled output is positive. No step, array
  or pass of the ReLU's own.
* **BatchNorm folded into a convolution** in evaluation mode: a BatchNorm2d (in eval mode)
  right after a Conv2d is an affine map per channel, so it becomes the convolution's weights and
  bias (:class:`.steps.ConvStep`): no pass of its own, and a ReLU after it fuses as above.
  The same numbers up to rounding: ``(W*x + b) * s + t`` is computed as ``(W*s)*x + (b*s + t)``.
* **Residual blocks** run their branch and shortcut as plans of their own, and the ReLU after
  the block in the pass that adds them (:class:`.steps.ResidualStep`).
* **No dx for the first layer** when the caller says nobody needs it (``fit`` trains with
  ``Sequential.backward(dy, input_grad=False)``): a first Conv2d or Linear skips that product.

Convolutions, linear and max-pool layers run as engine steps that call :mod:`convnp.fast`
directly (with the options above, and max-pool keeping its windows only when training); the
layers' own ``forward``/``backward`` stay as plain as the textbook. Under the reference engine
no plan is made: ``Sequential`` runs its plain loop. What each rewrite saves:
docs/performance.md, "Plan: fusion and reordering" and "Folding and residual blocks".
"""

from __future__ import annotations

from contextlib import nullcontext

from ..layers import BatchNorm2d, Conv2d, Linear, MaxPool2d, ReLU, Residual
from ..layers.container import call_labelled
from . import parallel, processes
from .split import split_step
from .steps import ConvStep, LayerStep, LinearStep, MaxPoolStep, ResidualStep

__all__ = ["ConvStep", "LayerStep", "LinearStep", "MaxPoolStep", "Plan", "ResidualStep", "execution_order",
           "plan"]


def execution_order(layers) -> list[int]:
    """Indices of ``layers`` in the order the plan runs them: the given order, except that a
    ReLU directly followed by a MaxPool2d runs after the pool (moving past consecutive pools
    one at a time)."""
    order = list(range(len(layers)))
    for k in range(len(order) - 1):
        if type(layers[order[k]]) is ReLU and type(layers[order[k + 1]]) is MaxPool2d:
            order[k], order[k + 1] = order[k + 1], order[k]
    return order


def plan(layers, training: bool = True, prefix: str = "layer ") -> Plan:
    """The steps that run ``layers`` (a list, or a model's ``.layers``) on the fast engine.

    ``prefix`` goes before a layer's index in the error of a layer that fails ("layer 3 ...").
    """
    layers = list(getattr(layers, "layers", layers))
    order = execution_order(layers)
    steps, k = [], 0
    while k < len(order):
        index, layer = order[k], layers[order[k]]
        following = [layers[i] for i in order[k + 1:k + 3]]
        taken = 1
        if type(layer) is Conv2d:
            norm = following[0] if following and _folds(layer, following[0]) else None
            after = following[1:] if norm is not None else following
            relu = after[0] if after and type(after[0]) is ReLU else None
            steps.append((index, ConvStep(layer, relu, training, norm)))
            taken += (norm is not None) + (relu is not None)
        elif type(layer) is Residual:
            relu = following[0] if following and type(following[0]) is ReLU else None
            steps.append((index, _residual_step(layer, relu, training)))
            taken += relu is not None
        elif type(layer) is Linear:
            steps.append((index, LinearStep(layer)))
        elif type(layer) is MaxPool2d:
            relu = following[0] if following and type(following[0]) is ReLU else None
            steps.append((index, MaxPoolStep(layer, training, relu)))
            taken += relu is not None
        else:
            split = split_step(layer) if processes.active() is not None else None
            steps.append((index, split or LayerStep(layer)))
        k += taken
    return Plan(steps, prefix)


def _folds(conv, norm) -> bool:
    """Whether ``norm`` (the layer after ``conv``) folds into it: a BatchNorm2d in evaluation mode
    that fits the convolution's output (else it runs as itself and reports any mismatch)."""
    return (type(norm) is BatchNorm2d and not norm.training and norm.num_features == conv.out_channels
            and norm.weight.dtype == conv.weight.dtype)


def _residual_step(residual, relu, training) -> ResidualStep:
    shortcut = residual.shortcut
    if shortcut is not None:
        shortcut = plan(getattr(shortcut, "layers", [shortcut]), training)
    return ResidualStep(residual, relu, plan(residual.layers, training, f"{residual!r}: layers."), shortcut)


class Plan:
    """Steps run in order; ``steps`` is a list of ``(layer index, step)``."""

    def __init__(self, steps, prefix: str = "layer "):
        self.steps, self.prefix = steps, prefix
        self.threaded = False  # whether the last forward pass split work over the engine's threads

    def forward(self, x):
        splits = parallel.split_count()
        with self._blas():  # the layers split their products over the threads themselves
            for index, step in self.steps:
                x = call_labelled(step.forward, x, f"{self.prefix}{index} ")
        self.threaded = parallel.split_count() > splits
        return x

    def backward(self, dy, input_grad: bool = True):
        with self._blas():
            for position in range(len(self.steps) - 1, -1, -1):
                dy = self.steps[position][1].backward(dy, input_grad or position > 0)
        return dy if input_grad else None

    def _blas(self):
        """BLAS held on one thread while the layers split their work (:mod:`.parallel`)."""
        return parallel.single_threaded_blas() if self.threaded else nullcontext()
