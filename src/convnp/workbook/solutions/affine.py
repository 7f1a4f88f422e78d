# convnp exercise: affine
"""Affine (fully connected) layer: ``out = x @ W + b``.

Write ``Affine.forward`` and ``Affine.backward`` (the interface of *Deep Learning from Scratch*).

Shapes
------
``Affine(W, b)``: W (D, M) -- note: (in, out), the transpose of torch's Linear weight --, b (M,).
``forward(x)``: x (N, ...) is flattened to (N, D) (e.g. (N, C, H, W) with D = C*H*W) -> out (N, M).
``backward(dout)``: dout (N, M) -> dx of **x's original shape**; also sets ``self.dW`` (D, M)
and ``self.db`` (M,).

Formulas
--------
forward:   out = x @ W + b
backward:  dx = dout @ W.T          dW = x.T @ dout          db = sum of dout over the batch

``db`` is a *sum* over the batch, not a mean: the loss already divided by N.
Check your work with ``convnp exercise check affine.py``.
"""

import numpy as np


class Affine:
    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        # BEGIN forward: flatten x to (N, D), keep it, return out (N, M)
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)  # (N, D)
        return self.x @ self.W + self.b
        # END

    def backward(self, dout):
        # BEGIN backward: set self.dW and self.db, return dx in x's original shape
        dx = dout @ self.W.T  # (N, D)
        self.dW = self.x.T @ dout  # (D, M)
        self.db = np.sum(dout, axis=0)  # (M,)
        return dx.reshape(self.original_x_shape)
        # END


if __name__ == "__main__":  # the first case the checker tries
    x = np.arange(6.0).reshape(2, 3)  # [[0 1 2] [3 4 5]]
    W = np.arange(6.0).reshape(3, 2) / 10  # [[0 .1] [.2 .3] [.4 .5]]
    b = np.array([0.5, -0.5])
    layer = Affine(W, b)
    print(layer.forward(x))  # [[1.5 0.8] [3.3 3.5]]
    print(layer.backward(np.ones((2, 2))), layer.dW, layer.db)  # dx rows [.1 .5 .9], db [2 2]
