# convnp exercise: relu
"""ReLU, the layer after every convolution: ``out = max(x, 0)``.

Write ``Relu.forward`` and ``Relu.backward`` (the layer interface of *Deep Learning from Scratch*).

Shapes
------
``forward(x)``: x of any shape -> out of the same shape.
``backward(dout)``: dout of out's shape -> dx of x's shape.

Formulas
--------
forward:   out = x where x > 0, else 0
backward:  dx = dout where x > 0, else 0          (d max(x, 0) / dx = [x > 0])

Keep what backward needs in ``self`` during forward. Do not change ``x`` or ``dout`` in place:
the caller may still use them. Check your work with ``convnp exercise check relu.py``.
"""

import numpy as np


class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        # BEGIN forward: remember where x <= 0, return out
        self.mask = x <= 0
        return np.where(self.mask, 0.0, x)
        # END

    def backward(self, dout):
        # BEGIN backward: return dx (a new array; leave dout as it is)
        return np.where(self.mask, 0.0, dout)
        # END


if __name__ == "__main__":  # the first case the checker tries
    x = np.arange(-3, 3).reshape(2, 3) + 0.5  # [[-2.5 -1.5 -0.5] [ 0.5  1.5  2.5]]
    layer = Relu()
    print(layer.forward(x))  # [[0.  0.  0. ] [0.5 1.5 2.5]]
    print(layer.backward(np.ones_like(x)))  # [[0. 0. 0.] [1. 1. 1.]]
