# convnp exercise: conv-backward
"""Convolution layer, backward pass: dx with col2im, dW and db with matrix products.

``forward`` is written (im2col, then one matrix product); write ``backward(dout)``.

Shapes
------
``Convolution(W, b, stride=1, pad=0)``: W (FN, C, FH, FW), b (FN,).
``forward(x)``: x (N, C, H, W) -> out (N, FN, OH, OW); it keeps self.x, self.col
(N*OH*OW, C*FH*FW) and self.col_W (C*FH*FW, FN).
``backward(dout)``: dout (N, FN, OH, OW) -> dx (N, C, H, W); sets self.dW (FN, C, FH, FW) and
self.db (FN,).

Formulas (forward was out2d = col @ col_W + b, with out2d = out moved to (N*OH*OW, FN))::

    dout2d = dout.transpose(0, 2, 3, 1).reshape(-1, FN)   # (N*OH*OW, FN), rows (n, oh, ow)
    db     = dout2d summed over rows                      # (FN,): a sum, not a mean
    dW     = (col.T @ dout2d).T reshaped to (FN, C, FH, FW)
    dcol   = dout2d @ col_W.T                             # (N*OH*OW, C*FH*FW)
    dx     = col2im(dcol, x.shape, FH, FW, stride, pad)   # overlapping windows add up

Do not change ``dout`` in place. Check your work with ``convnp exercise check conv-backward.py``.
"""

import numpy as np

from convnp.functional import col2im, im2col


class Convolution:
    def __init__(self, W, b, stride=1, pad=0):
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        self.x = None
        self.col = None
        self.col_W = None
        self.dW = None
        self.db = None

    def forward(self, x):
        FN, C, FH, FW = self.W.shape
        N, C, H, W = x.shape
        out_h = (H + 2 * self.pad - FH) // self.stride + 1
        out_w = (W + 2 * self.pad - FW) // self.stride + 1
        col = im2col(x, FH, FW, self.stride, self.pad)  # (N*OH*OW, C*FH*FW)
        col_W = self.W.reshape(FN, -1).T  # (C*FH*FW, FN)
        out = col @ col_W + self.b  # (N*OH*OW, FN)
        self.x, self.col, self.col_W = x, col, col_W
        return out.reshape(N, out_h, out_w, FN).transpose(0, 3, 1, 2)  # (N, FN, OH, OW)

    def backward(self, dout):
        # BEGIN backward: set self.dW and self.db, return dx (N, C, H, W)
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)  # (N*OH*OW, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = (self.col.T @ dout).T.reshape(FN, C, FH, FW)
        dcol = dout @ self.col_W.T  # (N*OH*OW, C*FH*FW)
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)
        # END


if __name__ == "__main__":  # the first case the checker tries
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    W = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])  # one 2x2 filter
    layer = Convolution(W, np.zeros(1))
    layer.forward(x)
    dx = layer.backward(np.ones((1, 1, 3, 3)))
    print(dx)  # [[[[ 1  3  3  2] [ 4 10 10  6] [ 4 10 10  6] [ 3  7  7  4]]]]
    print(layer.dW, layer.db)  # [[[[45 54] [81 90]]]] [9]
