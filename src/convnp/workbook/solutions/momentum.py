# convnp exercise: momentum
"""Momentum SGD: a velocity that accumulates past gradients.

Shapes
------
``Momentum(lr=0.01, momentum=0.9)``; ``update(params, grads)``: dicts of arrays with the same
keys, updated in place. Keep one velocity per key (zeros before the first update).

Formulas::

    v[key] = momentum * v[key] - lr * grads[key]
    params[key] += v[key]

Update the arrays **in place**: the layers hold these same array objects.
Check your work with ``convnp exercise check momentum.py``.
"""

import numpy as np


class Momentum:
    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        # BEGIN update: keep a velocity per key, change every params[key] in place
        if self.v is None:
            self.v = {key: np.zeros_like(value) for key, value in params.items()}
        for key in params:
            self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
            params[key] += self.v[key]
        # END


if __name__ == "__main__":  # the first case the checker tries
    params = {"W": np.array([1.0, 2.0])}
    grads = {"W": np.array([1.0, -1.0])}
    optimizer = Momentum(lr=0.1, momentum=0.9)
    optimizer.update(params, grads)
    print(params["W"])  # [0.9 2.1]   (v = [-0.1 0.1])
    optimizer.update(params, grads)
    print(params["W"])  # [0.71 2.29] (v = [-0.19 0.19])
