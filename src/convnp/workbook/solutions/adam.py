# convnp exercise: adam
"""Adam: momentum on the gradient and on its square, with bias correction.

Shapes
------
``Adam(lr=0.001, beta1=0.9, beta2=0.999)``; ``update(params, grads)``: dicts of arrays with the
same keys, updated in place. Keep m and v per key (zeros at first) and a step count.

Formulas (step t = 1, 2, …)::

    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g**2
    params -= lr * m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - beta1**t), v_hat = v / (1 - beta2**t)

*Deep Learning from Scratch* folds the corrections into the rate,
``lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)``, ``params -= lr_t * m / (sqrt(v) + 1e-7)``;
both forms pass (they differ only in where the tiny eps sits).
Update the arrays **in place**. Check your work with ``convnp exercise check adam.py``.
"""

import numpy as np


class Adam:
    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m = None
        self.v = None

    def update(self, params, grads):
        # BEGIN update: keep m, v and the step count; change every params[key] in place
        if self.m is None:
            self.m = {key: np.zeros_like(value) for key, value in params.items()}
            self.v = {key: np.zeros_like(value) for key, value in params.items()}
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for key in params:
            self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
            self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
            params[key] -= lr_t * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)
        # END


if __name__ == "__main__":  # the first case the checker tries
    params = {"W": np.array([1.0, 2.0])}
    grads = {"W": np.array([0.5, -2.0])}
    Adam(lr=0.1).update(params, grads)
    print(params["W"])  # [0.9 2.1]: the first step moves every element by about lr
