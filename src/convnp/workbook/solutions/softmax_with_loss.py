# convnp exercise: softmax-with-loss
"""Softmax followed by the cross-entropy loss, fused into one layer (as in *Deep Learning from Scratch*).

Shapes
------
``forward(x, t)``: logits x (N, K); labels t either integers (N,) or one-hot (N, K).
Returns the loss, a float: the mean over the batch.
``backward(dout=1)``: returns dx (N, K).

Formulas
--------
y = softmax(x)  = exp(x - max(x)) / sum(exp(x - max(x)))      (row by row; subtracting the row
                                                                maximum keeps exp() finite)
loss = -(1/N) * sum_n log y[n, t_n]                   (one-hot: -(1/N) * sum t * log y)
dx   = dout * (y - t) / N                             (t as one-hot)

Logits of 1e4 are legal: without the shift, exp(1e4) = inf and inf / inf = NaN.
Check your work with ``convnp exercise check softmax-with-loss.py``.
"""

import numpy as np


class SoftmaxWithLoss:
    def __init__(self):
        self.y = None  # softmax output (N, K)
        self.t = None  # labels as one-hot (N, K)
        self.loss = None

    def forward(self, x, t):
        # BEGIN forward: keep y and t (one-hot) for backward, return the mean loss
        shifted = x - x.max(axis=1, keepdims=True)  # (N, K), row maximum 0
        log_y = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))  # log softmax
        self.y = np.exp(log_y)
        self.t = t if t.ndim == 2 else np.eye(x.shape[1], dtype=x.dtype)[t]
        self.loss = float(-np.sum(self.t * log_y) / x.shape[0])
        return self.loss
        # END

    def backward(self, dout=1):
        # BEGIN backward: return dx (N, K)
        return dout * (self.y - self.t) / self.y.shape[0]
        # END


if __name__ == "__main__":  # the first case the checker tries
    x = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0]])
    t = np.array([2, 0])
    layer = SoftmaxWithLoss()
    print(layer.forward(x, t))  # 0.7531 = (0.4076 + 1.0986) / 2
    print(layer.backward())  # [[0.045 0.1224 -0.1668] [-0.3333 0.1667 0.1667]]
