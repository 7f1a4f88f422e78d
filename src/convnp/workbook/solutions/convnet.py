# convnp exercise: convnet
"""The capstone: your own layers, assembled into a CNN that learns to read digits.

Put your ``Convolution``, ``Relu``, ``MaxPool``, ``Affine`` and ``SoftmaxWithLoss`` here (copy
them from your earlier exercises: same interfaces, everything between BEGIN and END).
The checker first tests each class on small cases, then builds

    Convolution(W (8, 1, 5, 5), b, stride=1, pad=0) -> Relu -> MaxPool(2, 2, stride=2)
    -> Affine(W (8*12*12, 10), b) -> SoftmaxWithLoss

trains it with its own Adam for two epochs on ``mnist-sample`` (8,000 digits, batches of 50,
a fixed seed) and asks for at least 95% accuracy on the 2,000 test digits.
With vectorised (im2col) layers this takes well under a minute; loop-based layers are fine for
the other exercises but too slow here.
Check your work with ``convnp exercise check convnet.py``.
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
        # BEGIN Convolution.forward: return out (N, FN, OH, OW); keep self.x, self.col, self.col_W
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
        # BEGIN Convolution.backward: set self.dW and self.db, return dx (N, C, H, W)
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)  # (N*OH*OW, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = (self.col.T @ dout).T.reshape(FN, C, FH, FW)
        dcol = dout @ self.col_W.T  # (N*OH*OW, C*FH*FW)
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)
        # END


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        # BEGIN Relu.forward: remember where x <= 0, return out
        self.mask = x <= 0
        return np.where(self.mask, 0.0, x)
        # END

    def backward(self, dout):
        # BEGIN Relu.backward: return dx (a new array; leave dout as it is)
        return np.where(self.mask, 0.0, dout)
        # END


class MaxPool:
    def __init__(self, pool_h, pool_w, stride=1, pad=0):
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x = None
        self.arg_max = None

    def forward(self, x):
        # BEGIN MaxPool.forward: return out (N, C, OH, OW); keep self.x and self.arg_max
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
        # BEGIN MaxPool.backward: return dx (N, C, H, W)
        pool_size = self.pool_h * self.pool_w
        dout = dout.transpose(0, 2, 3, 1)  # (N, OH, OW, C)
        dmax = np.zeros((dout.size, pool_size), dtype=dout.dtype)  # one window a row
        dmax[np.arange(self.arg_max.size), self.arg_max] = dout.ravel()
        dcol = dmax.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)  # (N*OH*OW, C*PH*PW)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)
        # END


class Affine:
    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        # BEGIN Affine.forward: flatten x to (N, D), keep it, return out (N, M)
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)  # (N, D)
        return self.x @ self.W + self.b
        # END

    def backward(self, dout):
        # BEGIN Affine.backward: set self.dW and self.db, return dx in x's original shape
        dx = dout @ self.W.T  # (N, D)
        self.dW = self.x.T @ dout  # (D, M)
        self.db = np.sum(dout, axis=0)  # (M,)
        return dx.reshape(self.original_x_shape)
        # END


class SoftmaxWithLoss:
    def __init__(self):
        self.y = None  # softmax output (N, K)
        self.t = None  # labels as one-hot (N, K)
        self.loss = None

    def forward(self, x, t):
        # BEGIN SoftmaxWithLoss.forward: keep y and t (one-hot) for backward, return the mean loss
        shifted = x - x.max(axis=1, keepdims=True)  # (N, K), row maximum 0
        log_y = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # log softmax
        self.y = np.exp(log_y)
        self.t = t if t.ndim == 2 else np.eye(x.shape[1], dtype=x.dtype)[t]
        self.loss = float(-np.sum(self.t * log_y) / x.shape[0])
        return self.loss
        # END

    def backward(self, dout=1):
        # BEGIN SoftmaxWithLoss.backward: return dx (N, K)
        return dout * (self.y - self.t) / self.y.shape[0]
        # END
