# convnp exercise: maxpool-backward
"""Max pooling, backward pass: each window's gradient goes to its maximum, and only there.

``forward`` is written; write ``backward(dout)``.

Shapes
------
``MaxPool(pool_h, pool_w, stride=1, pad=0)``; ``forward(x)``: x (N, C, H, W) -> out (N, C, OH, OW);
it keeps self.x and self.arg_max, the position of the maximum in each window
(N*OH*OW*C windows, rows ordered (n, oh, ow, c), positions 0 .. pool_h*pool_w - 1 row-major).
``backward(dout)``: dout (N, C, OH, OW) -> dx (N, C, H, W).

Formula::

    dx_padded[n, c, i*stride + p, j*stride + q] += dout[n, c, i, j]   for the (p, q) that is
                                                                      the window's maximum

then dx is dx_padded without its ``pad`` border (padding is never the maximum).

On ties the *first* maximum in row-major window order gets the gradient (torch's rule, and
np.argmax's), not every tied element. Windows overlap when stride < pool: contributions add up.
One way: a (N*OH*OW*C, pool_h*pool_w) zero matrix, dout put at [row, arg_max[row]], reshaped to
(N*OH*OW, C*pool_h*pool_w) and folded back with col2im. Do not change ``dout`` in place.
Check your work with ``convnp exercise check maxpool-backward.py``.
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

    def backward(self, dout):
        # BEGIN backward: return dx (N, C, H, W)
        pool_size = self.pool_h * self.pool_w
        dout = dout.transpose(0, 2, 3, 1)  # (N, OH, OW, C)
        dmax = np.zeros((dout.size, pool_size), dtype=dout.dtype)  # one window a row
        dmax[np.arange(self.arg_max.size), self.arg_max] = dout.ravel()
        dcol = dmax.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)  # (N*OH*OW, C*PH*PW)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)
        # END


if __name__ == "__main__":  # the first case the checker tries
    x = np.array([[[[1.0, 2.0, 5.0, 0.0], [3.0, 4.0, 1.0, 1.0],
                    [0.0, 6.0, 2.0, 2.0], [7.0, 1.0, 2.0, 3.0]]]])
    layer = MaxPool(2, 2, stride=2)
    layer.forward(x)
    print(layer.backward(np.array([[[[1.0, 2.0], [3.0, 4.0]]]])))
    # [[[[0 0 2 0] [0 1 0 0] [0 0 0 0] [3 0 0 4]]]]: each window's gradient at its maximum
