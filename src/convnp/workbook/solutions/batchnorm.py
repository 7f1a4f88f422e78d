# convnp exercise: batchnorm
"""Batch normalization: normalize each feature over the batch, then scale and shift.

Shapes
------
``BatchNormalization(gamma, beta, momentum=0.9, eps=1e-5)``: gamma, beta (D,).
``forward(x, train_flg=True)``: x (N, D) -> out (N, D). (An input (N, C, H, W) is treated as
(N, C*H*W), as in *Deep Learning from Scratch*.)
``backward(dout)``: dout (N, D) -> dx (N, D); sets ``self.dgamma`` and ``self.dbeta`` (D,).

Formulas (training, over the batch axis)::

    mu = mean(x);  var = mean((x - mu)**2);  std = sqrt(var + eps)
    xn = (x - mu) / std;  out = gamma * xn + beta
    running_mean = momentum * running_mean + (1 - momentum) * mu      (likewise running_var;
                                                                        both start at 0)
    dbeta = sum(dout);  dgamma = sum(dout * xn);  dxn = gamma * dout
    dx = (dxn - mean(dxn) - xn * mean(dxn * xn)) / std

At test time (train_flg=False): xn = (x - running_mean) / sqrt(running_var + eps).
Check your work with ``convnp exercise check batchnorm.py``.
"""

import numpy as np


class BatchNormalization:
    def __init__(self, gamma, beta, momentum=0.9, eps=1e-5):
        self.gamma = gamma
        self.beta = beta
        self.momentum = momentum
        self.eps = eps
        self.running_mean = None
        self.running_var = None
        self.input_shape = None
        self.xn = None
        self.std = None
        self.dgamma = None
        self.dbeta = None

    def forward(self, x, train_flg=True):
        # BEGIN forward: return out; in training keep xn and std, update the running statistics
        self.input_shape = x.shape
        x = x.reshape(x.shape[0], -1)  # (N, D)
        if self.running_mean is None:
            self.running_mean = np.zeros(x.shape[1], dtype=x.dtype)
            self.running_var = np.zeros(x.shape[1], dtype=x.dtype)
        if train_flg:
            mu = x.mean(axis=0)
            var = ((x - mu) ** 2).mean(axis=0)
            self.std = np.sqrt(var + self.eps)
            self.xn = (x - mu) / self.std
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
            xn = self.xn
        else:
            xn = (x - self.running_mean) / np.sqrt(self.running_var + self.eps)
        return (self.gamma * xn + self.beta).reshape(self.input_shape)
        # END

    def backward(self, dout):
        # BEGIN backward: set self.dgamma and self.dbeta, return dx
        dout = dout.reshape(dout.shape[0], -1)  # (N, D)
        self.dbeta = dout.sum(axis=0)
        self.dgamma = (dout * self.xn).sum(axis=0)
        dxn = self.gamma * dout
        dx = (dxn - dxn.mean(axis=0) - self.xn * (dxn * self.xn).mean(axis=0)) / self.std
        return dx.reshape(self.input_shape)
        # END


if __name__ == "__main__":  # the first case the checker tries
    x = np.array([[1.0, 10.0], [3.0, 20.0], [5.0, 60.0]])
    layer = BatchNormalization(np.ones(2), np.zeros(2))
    print(layer.forward(x))  # each column now has mean 0 and variance 1 (up to eps)
    print(layer.backward(np.array([[1.0, 0.0], [0.0, 0.0], [0.0, 0.0]])))
