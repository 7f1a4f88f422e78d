"""The textbook: every layer's math, forward and backward, as short readable NumPy with no state.

Layers in :mod:`convnp.layers` are thin wrappers that own parameters, cache what backward needs
and call these functions (or, under the default ``"fast"`` engine, their tuned twins in
:mod:`convnp.fast`, which compute the same numbers). Reading order for a convolution:
:func:`im2col` / :func:`col2im`, then :func:`conv2d_forward` / :func:`conv2d_backward`, then the
loop versions ``*_naive`` beside them — the oracle the tests compare with and what the
explanations (``convnp explain``) show.
"""

from .activations import (
    elu,
    elu_backward,
    leaky_relu,
    leaky_relu_backward,
    log_softmax,
    relu,
    relu_backward,
    selu,
    selu_backward,
    sigmoid,
    sigmoid_backward,
    softmax,
    softmax_backward,
    softplus,
    softplus_backward,
    tanh,
    tanh_backward,
)
from .conv import (
    ConvCache,
    conv2d_backward,
    conv2d_backward_naive,
    conv2d_forward,
    conv2d_forward_naive,
)
from .im2col import col2im, col2im_naive, im2col, im2col_naive, pad2d
from .linear import linear_backward, linear_forward
from .normalization import (
    batch_norm_eval_backward,
    batch_norm_eval_forward,
    batch_norm_naive,
    batch_norm_train_backward,
    batch_norm_train_forward,
)
from .pooling import (
    PoolCache,
    avg_pool2d_backward,
    avg_pool2d_forward,
    max_pool2d_backward,
    max_pool2d_forward,
    pool2d_backward_naive,
    pool2d_naive,
)

__all__ = [
    "batch_norm_eval_backward",
    "batch_norm_eval_forward",
    "batch_norm_naive",
    "batch_norm_train_backward",
    "batch_norm_train_forward",
    "ConvCache",
    "PoolCache",
    "avg_pool2d_backward",
    "avg_pool2d_forward",
    "col2im",
    "col2im_naive",
    "conv2d_backward",
    "conv2d_backward_naive",
    "conv2d_forward",
    "conv2d_forward_naive",
    "elu",
    "elu_backward",
    "im2col",
    "im2col_naive",
    "leaky_relu",
    "leaky_relu_backward",
    "linear_backward",
    "linear_forward",
    "log_softmax",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "pad2d",
    "pool2d_backward_naive",
    "pool2d_naive",
    "relu",
    "relu_backward",
    "selu",
    "selu_backward",
    "sigmoid",
    "sigmoid_backward",
    "softmax",
    "softmax_backward",
    "softplus",
    "softplus_backward",
    "tanh",
    "tanh_backward",
]
