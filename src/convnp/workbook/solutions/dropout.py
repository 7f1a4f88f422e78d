# convnp exercise: dropout
"""Dropout: in training, zero each element with probability ``dropout_ratio``.

Shapes
------
``Dropout(dropout_ratio=0.5)``.
``forward(x, train_flg=True)``: x (any shape) -> out (same shape).
``backward(dout)``: dout (out's shape) -> dx.

Formulas (*Deep Learning from Scratch*'s version)::

    training:  mask = random(x.shape) > dropout_ratio;  out = x * mask
    test:      out = x * (1 - dropout_ratio)            (the expected value of training's out)
    backward:  dx = dout * mask                         (the same mask as the last forward)

Inverted dropout -- out = x * mask / (1 - ratio) in training and out = x at test time, as torch
does -- is also accepted: the checker only asks that training and test agree on average.
Check your work with ``convnp exercise check dropout.py``.
"""

import numpy as np


class Dropout:
    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio
        self.mask = None

    def forward(self, x, train_flg=True):
        # BEGIN forward: in training draw and keep a mask; return out
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio  # noqa: NPY002
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)
        # END

    def backward(self, dout):
        # BEGIN backward: return dx
        return dout * self.mask
        # END


if __name__ == "__main__":  # the first case the checker tries
    x = np.arange(1.0, 9.0).reshape(2, 4)
    layer = Dropout(0.5)
    print(layer.forward(x))  # about half of the values replaced by 0
    print(layer.backward(np.ones_like(x)))  # 1 where the value was kept, 0 where it was dropped
    print(layer.forward(x, train_flg=False))  # x * 0.5
