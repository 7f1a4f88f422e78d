# convnp exercise: maxpool-forward
"""Max pooling, forward pass: the largest value of every window, channel by channel.

Shapes
------
``MaxPool(pool_h, pool_w, stride=1, pad=0)``.
``forward(x)``: x (N, C, H, W) -> out (N, C, OH, OW),
OH = (H + 2*pad - pool_h) // stride + 1, OW = (W + 2*pad - pool_w) // stride + 1.

Formula::

    out[n, c, i, j] = max_{p, q} x_padded[n, c, i*stride + p, j*stride + q]

Padding should never win the max: pad with -inf (the checker's padded cases use inputs > 0,
where zero padding gives the same answer). One way: im2col the (padded) input, reshape to
(N*OH*OW*C, pool_h*pool_w) -- one window per row --, take the max and argmax of each row
(backward needs the argmax), reshape to (N, OH, OW, C) and move C: (N, C, OH, OW).
Check your work with ``convnp exercise check maxpool-forward.py``.
"""

import numpy as np

from convnp.functional import col2im, im2col


class MaxPool:
    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x = None
        self.arg_max = None

    def forward(self, x):
        # BEGIN forward: return out (N, C, OH, OW); keep self.x and self.arg_max
        N, C, H, W = x.shape
        out_h = (H + 2 * self.pad - self.pool_h) // self.stride + 1
        out_w = (W + 2 * self.pad - self.pool_w) // self.stride + 1
        p = self.pad
        x_padded = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)], constant_values=-np.inf)
        col = im2col(x_padded, self.pool_h, self.pool_w, self.stride, 0)  # (N*OH*OW, C*PH*PW)
        col = col.reshape(-1, self.pool_h * self.pool_w)  # (N*OH*OW*C, PH*PW): one window a row
        self.x, self.arg_max = x, np.argmax(col, axis=1)  # argmax: the first maximum on ties
        out = np.max(col, axis=1).reshape(N, out_h, out_w, C)
        return out.transpose(0, 3, 1, 2)  # (N, C, OH, OW)
        # END

    def backward(self, dout):
        pool_size = self.pool_h * self.pool_w
        dout = dout.transpose(0, 2, 3, 1)  # (N, OH, OW, C)
        dmax = np.zeros((dout.size, pool_size), dtype=dout.dtype)  # one window a row
        dmax[np.arange(self.arg_max.size), self.arg_max] = dout.ravel()
        dcol = dmax.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)  # (N*OH*OW, C*PH*PW)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)


if __name__ == "__main__":  # the first case the checker tries
    x = np.array([[[[1.0, 2.0, 5.0, 0.0], [3.0, 4.0, 1.0, 1.0],
                    [0.0, 6.0, 2.0, 2.0], [7.0, 1.0, 2.0, 3.0]]]])
    layer = MaxPool(2, 2, stride=2)
    print(layer.forward(x))  # [[[[4 5] [7 3]]]]
