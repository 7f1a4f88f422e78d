"""The engine: the textbook's operations (:mod:`convnp.functional`) tuned for speed, same numbers.

Layers call these functions when the engine is ``"fast"`` (the default; see :mod:`convnp.engine`)
and the textbook's otherwise. Each function here names its textbook twin in its docstring and
says why it is faster; tests prove every pair equal (float64 to 1e-10). What lives here:

* :mod:`.conv`, :mod:`.conv_backward`, :mod:`.conv_band`, :mod:`.conv_shift`, :mod:`.windows` —
  convolution on channels-last memory, in cache-sized chunks, by the cheapest route for the
  layer's shape;
* :mod:`.products` — the convolutions' products in row blocks for OpenBLAS's small-matrix
  kernels, where BLAS runs on one thread of an AVX-512 core;
* :mod:`.pooling` — pooling from strided views of the padded image, one pass per kernel offset;
* :mod:`.activations` — ReLU with SIMD-friendly passes, tanh's backward in cache-sized pieces;
* :mod:`.linear` — a backward that skips the first layer's ``dx`` and writes ``dW`` in place;
* :mod:`.workspace` — reuse of large work arrays from one step to the next;
* :mod:`.inference` — ``predict`` and ``evaluate`` with a large batch in parts, one per engine
  thread, each through the whole model (imported by ``convnp.model``, as the planner is);
* :mod:`.processes`, :mod:`.split`, :mod:`.worker` — a training step's batch split over worker
  processes, which share no interpreter lock (opt-in: :func:`set_num_processes`), BatchNorm's
  sums and Dropout's masks exchanged so that the step computes what one process computes;
* :mod:`.planner` — the plan by which ``Sequential`` runs a model on the engine: a ReLU moved
  after the max-pool it feeds, a Conv2d fused with the ReLU after it, the first layer's ``dx``
  skipped. Imported by ``convnp.model``, not here (it knows the layer classes).

Operations without a faster twin are the textbook's own, re-exported so that the engine offers
the same names as :mod:`convnp.functional`. The measurements behind every choice here are in
docs/performance.md, one section per topic.
"""

from ..functional import (
    col2im,
    elu,
    elu_backward,
    im2col,
    leaky_relu,
    leaky_relu_backward,
    log_softmax,
    selu,
    selu_backward,
    sigmoid,
    sigmoid_backward,
    softmax,
    softmax_backward,
    softplus,
    softplus_backward,
)
from . import workspace
from .activations import relu, relu_backward, relu_inplace, tanh, tanh_backward
from .conv import conv2d_backward, conv2d_forward
from .linear import linear_backward, linear_forward
from .normalization import (
    batch_norm_eval_backward,
    batch_norm_eval_forward,
    batch_norm_train_backward,
    batch_norm_train_forward,
)
from .parallel import force_threads, get_num_threads, set_num_threads
from .pooling import avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward
from .processes import force_processes, get_num_processes, set_num_processes
from .routes import force_conv_route, force_pool_route

__all__ = [
    "workspace",
    "avg_pool2d_backward",
    "batch_norm_eval_backward",
    "batch_norm_eval_forward",
    "batch_norm_train_backward",
    "batch_norm_train_forward",
    "avg_pool2d_forward",
    "col2im",
    "conv2d_backward",
    "conv2d_forward",
    "elu",
    "elu_backward",
    "force_conv_route",
    "force_pool_route",
    "force_processes",
    "force_threads",
    "get_num_processes",
    "get_num_threads",
    "im2col",
    "leaky_relu",
    "leaky_relu_backward",
    "linear_backward",
    "linear_forward",
    "log_softmax",
    "max_pool2d_backward",
    "max_pool2d_forward",
    "relu",
    "relu_backward",
    "relu_inplace",
    "selu",
    "set_num_processes",
    "set_num_threads",
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
