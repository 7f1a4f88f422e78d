"""The steps of the fast engine's plan (:mod:`.planner`): a layer as it is, or a layer that runs
the engine's functions directly with what the plan knows about its neighbours.

Each step has ``forward(x)`` and ``backward(dy, need_input_grad)`` and fills its layers'
parameter gradients as the layers' own ``forward``/``backward`` would — the same numbers, up to
rounding where a BatchNorm is folded (tests compare them with the layers run one at a time and
with the textbook: ``tests/test_planner.py``, ``tests/test_engines.py``).
"""

from __future__ import annotations

import numpy as np

from . import workspace
from .activations import relu_backward, relu_inplace
from .conv import conv2d_backward, conv2d_forward
from .linear import linear_backward
from .pooling import max_pool2d_backward, max_pool2d_forward


class LayerStep:
    """A layer run as it is (its forward calls the engine's functions)."""

    def __init__(self, layer):
        self.layer = layer

    def forward(self, x):
        return self.layer.forward(x)

    def backward(self, dy, need_input_grad=True):
        return self.layer.backward(dy)


class ConvStep:
    """A Conv2d; the evaluation-mode BatchNorm2d after it folded into its weights, when the plan
    found one; and the ReLU after those, applied piece by piece while the output is in cache.

    Twin of ``Conv2d.forward`` (then ``BatchNorm2d.forward`` in eval mode) then ``ReLU.forward``,
    and their backward in reverse. Folding: the normalisation ``u = z * s + t`` per channel
    (``s = gamma / sqrt(running_var + eps)``, ``t = beta - running_mean * s``) of the convolution
    ``z = W * x + b`` is the convolution with weights ``W * s`` and bias ``b * s + t`` — one pass
    over the output instead of three. Backward, from the folded convolution's gradients
    ``dWf``, ``dbf`` (with respect to its own weights)::

        dW = dWf * s    db = dbf * s    dbeta = dbf
        dgamma = inv_std * (sum(du * z) - mean * dbf),  sum(du * z) = <dWf, W> + dbf * b
    """

    def __init__(self, conv, relu=None, training=True, norm=None):
        self.conv, self.relu, self.training, self.norm = conv, relu, training, norm
        self.cache = self.y = self.y_shape = self.folding = None

    def forward(self, x):
        conv = self.conv
        conv.check_input(x)
        weight, bias = conv.weight.data, None if conv.bias is None else conv.bias.data
        if self.norm is not None:
            weight, bias = self._folded(weight, bias)
        y, self.cache = conv2d_forward(x, weight, bias, conv.stride, conv.padding,
                                       relu=self.relu is not None, for_backward=self.training)
        self.y_shape = y.shape
        self.y = y if self.relu is not None else None  # kept only where the ReLU's backward needs it
        return y

    def _folded(self, weight, bias):
        """The folded convolution's (weight, bias); keeps (scale, inv_std, mean) for backward."""
        norm = self.norm
        mean = norm.running_mean.astype(weight.dtype, copy=False)
        inv_std = (1.0 / np.sqrt(norm.running_var + norm.eps)).astype(weight.dtype, copy=False)  # (O,)
        scale = norm.weight.data * inv_std
        self.folding = (scale, inv_std, mean)
        shift = norm.bias.data - mean * scale
        return weight * scale[:, None, None, None], shift if bias is None else bias * scale + shift

    def backward(self, dy, need_input_grad=True):
        conv = self.conv
        if self.cache is None:
            raise RuntimeError(f"{conv!r}: backward() called before forward(); run forward first")
        conv._check_grad(dy, self.y_shape)
        if self.relu is not None:
            dy = relu_backward(dy, self.y)  # the ReLU's output says where it let dy through
        dx, dweight, dbias = conv2d_backward(dy, self.cache, need_input_grad)
        if self.norm is not None:
            dweight, dbias = self._unfolded_grads(dweight, dbias)
        np.copyto(conv.weight.grad, dweight)
        if conv.bias is not None:
            np.copyto(conv.bias.grad, dbias)
        return dx

    def _unfolded_grads(self, dweight, dbias):
        """The BatchNorm's gradients, and the convolution's (returned) from the folded ones."""
        scale, inv_std, mean = self.folding
        conv, norm = self.conv, self.norm
        z_dot = np.einsum("ockl,ockl->o", dweight, conv.weight.data)  # sum(du * z), bias part below
        if conv.bias is not None:
            z_dot += dbias * conv.bias.data
        np.copyto(norm.bias.grad, dbias)
        np.copyto(norm.weight.grad, inv_std * (z_dot - mean * dbias))
        return dweight * scale[:, None, None, None], dbias * scale


class ResidualStep:
    """A Residual block whose branch and shortcut run as plans of their own, and the ReLU after
    the block applied in the same pass as the addition.

    Twin of ``Residual.forward`` then ``ReLU.forward`` (and backward in reverse):
    ``y = max(branch(x) + shortcut(x), 0)``, one pass over memory where the layers make two
    (and allocate twice); backward sends ``dy`` (where ``y > 0``) into both paths and adds.
    """

    def __init__(self, residual, relu, branch, shortcut):
        self.residual, self.relu, self.branch, self.shortcut = residual, relu, branch, shortcut
        self.y = self.y_shape = None

    def forward(self, x):
        out = self.branch.forward(x)
        skip = x if self.shortcut is None else self.shortcut.forward(x)
        self.residual.check_shapes(x, out, skip)
        y = np.add(out, skip, out=workspace.empty_like(out))  # out's memory layout
        if self.relu is not None:
            relu_inplace(y)
        self.y_shape = y.shape
        self.y = y if self.relu is not None else None  # kept only where the ReLU's backward needs it
        return y

    def backward(self, dy, need_input_grad=True):
        if self.y_shape is None:
            raise RuntimeError(f"{self.residual!r}: backward() called before forward(); run forward first")
        self.residual._check_grad(dy, self.y_shape)
        if self.relu is not None:
            dy = relu_backward(dy, self.y)
        dx = self.branch.backward(dy, True)
        skip = dy if self.shortcut is None else self.shortcut.backward(dy, True)
        return np.add(dx, skip, out=workspace.empty_like(dx))  # dx may be a view of dy (Flatten)


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
    """A MaxPool2d that keeps its gathered windows for backward only when training, and the ReLU
    after it (when the plan found one) applied to its output in place.

    Twin of ``MaxPool2d.forward`` then ``ReLU.forward``, and their backward in reverse. The ReLU
    runs on the pooled numbers only, and its backward is folded into the pool's: ``dy`` reaches
    the window's maximum only where the pooled output is positive (or NaN), the same numbers as
    the ReLU's backward followed by the pool's, without that pass.
    """

    def __init__(self, layer, training, relu=None):
        self.layer, self.training, self.relu = layer, training, relu
        self.cache = self.y_shape = None

    def forward(self, x):
        layer = self.layer
        layer.check_input(x)
        y, self.cache = max_pool2d_forward(x, layer.kernel_size, layer.stride, layer.padding,
                                           for_backward=self.training)
        if self.relu is not None:
            relu_inplace(y)  # the cache's y too (the same memory): backward compares with it
        self.y_shape = y.shape
        return y

    def backward(self, dy, need_input_grad=True):
        if self.cache is None:
            raise RuntimeError(f"{self.layer!r}: backward() called before forward(); run forward first")
        self.layer._check_grad(dy, self.y_shape)
        return max_pool2d_backward(dy, self.cache, relu=self.relu is not None)
