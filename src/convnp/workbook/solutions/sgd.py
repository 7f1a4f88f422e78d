# convnp exercise: sgd
"""Stochastic gradient descent: step every parameter against its gradient.

Shapes
------
``SGD(lr=0.01)``; ``update(params, grads)``: two dicts with the same keys (``"W1"``, ``"b1"``, …),
each value an array; grads[key] has params[key]'s shape.

Formula::

    params[key] -= lr * grads[key]          for every key

Update the arrays **in place** (``-=``, or ``params[key][...] = …``): the layers hold these same
array objects, so a new array put in the dict would never reach them.
Check your work with ``convnp exercise check sgd.py``.
"""

import numpy as np


class SGD:
    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        # BEGIN update: change every params[key] in place
        for key in params:
            params[key] -= self.lr * grads[key]
        # END


if __name__ == "__main__":  # the first case the checker tries
    params = {"W": np.array([1.0, 2.0, 3.0])}
    grads = {"W": np.array([10.0, 0.0, -10.0])}
    SGD(lr=0.1).update(params, grads)
    print(params["W"])  # [0. 2. 4.]
