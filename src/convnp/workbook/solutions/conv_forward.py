# convnp exercise: conv-forward
"""Convolution layer, forward pass, as im2col followed by one matrix product.

Shapes
------
``Convolution(W, b, stride=1, pad=0)``: W (FN, C, FH, FW) filters, b (FN,).
``forward(x)``: x (N, C, H, W) -> out (N, FN, OH, OW),
OH = (H + 2*pad - FH) // stride + 1, OW = (W + 2*pad - FW) // stride + 1.

Formula (cross-correlation, as every deep-learning library computes it -- the kernel is *not*
flipped)::

    out[n, f, i, j] = b[f] + sum_{c, p, q} W[f, c, p, q] * x_padded[n, c, i*stride + p, j*stride + q]

Steps: col = im2col(x, FH, FW, stride, pad)  (N*OH*OW, C*FH*FW); col_W = W.reshape(FN, -1).T
(C*FH*FW, FN); out = col @ col_W + b  (N*OH*OW, FN); reshape to (N, OH, OW, FN) and move the
channel axis: (N, FN, OH, OW). Keep x, col and col_W: backward needs them.
Check your work with ``convnp exercise check conv-forward.py``.
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
        # BEGIN forward: return out (N, FN, OH, OW); keep self.x, self.col, self.col_W
        FN, C, FH, FW = self.W.shape
        N, C, H, W = x.shape
        out_h = (H + 2 * self.pad - FH) // self.stride + 1
        out_w = (W + 2 * self.pad - FW) // self.stride + 1
        col = im2col(x, FH, FW, self.stride, self.pad)  # (N*OH*OW, C*FH*FW)
        col_W = self.W.reshape(FN, -1).T  # (C*FH*FW, FN)
        out = col @ col_W + self.b  # (N*OH*OW, FN)
        self.x, self.col, self.col_W = x, col, col_W
        return out.reshape(N, out_h, out_w, FN).transpose(0, 3, 1, 2)  # (N, FN, OH, OW)
        # END

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)  # (N*OH*OW, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = (self.col.T @ dout).T.reshape(FN, C, FH, FW)
        dcol = dout @ self.col_W.T  # (N*OH*OW, C*FH*FW)
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)


if __name__ == "__main__":  # the first case the checker tries
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    W = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])  # one 2x2 filter
    layer = Convolution(W, np.zeros(1))
    print(layer.forward(x))  # [[[[ 34  44  54] [ 74  84  94] [114 124 134]]]]
