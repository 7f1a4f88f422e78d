# convnp exercise: sigmoid
"""Sigmoid, the logistic function: ``out = 1 / (1 + exp(-x))``.

Write ``Sigmoid.forward`` and ``Sigmoid.backward`` (the interface of *Deep Learning from Scratch*).

Shapes
------
``forward(x)``: x of any shape -> out of the same shape, values in (0, 1).
``backward(dout)``: dout of out's shape -> dx of x's shape.

Formulas
--------
forward:   out = 1 / (1 + exp(-x))
backward:  dx = dout * out * (1 - out)             (the derivative needs only the output)

Large inputs (x = -1000) must not give NaN: exp(1000) overflows to inf, and 1 / (1 + inf) is
still 0, but some rearrangements (exp(x) / (1 + exp(x))) give inf / inf = NaN.
Check your work with ``convnp exercise check sigmoid.py``.
"""

import numpy as np


class Sigmoid:
    def __init__(self):
        self.out = None

    def forward(self, x):
        # BEGIN forward: compute out, keep it for backward
        with np.errstate(over="ignore"):  # exp(-x) may overflow to inf: 1 / inf = 0 is right
            self.out = 1.0 / (1.0 + np.exp(-x))
        return self.out
        # END

    def backward(self, dout):
        # BEGIN backward: return dx
        return dout * self.out * (1.0 - self.out)
        # END


if __name__ == "__main__":  # the first case the checker tries
    x = np.arange(-3, 3).reshape(2, 3) + 0.5  # [[-2.5 -1.5 -0.5] [ 0.5  1.5  2.5]]
    layer = Sigmoid()
    print(layer.forward(x))  # [[0.0759 0.1824 0.3775] [0.6225 0.8176 0.9241]]
    print(layer.backward(np.ones_like(x)))  # [[0.0701 0.1491 0.2350] [0.2350 0.1491 0.0701]]
