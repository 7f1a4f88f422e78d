"""Loss functions: a scalar value of (output, target) and its gradient with respect to output.

Usage mirrors the layers: ``value = loss(output, target)`` runs the forward pass and caches,
``loss.backward()`` returns d value / d output (shape of ``output``, same dtype).
"""

from __future__ import annotations

import numpy as np

from . import functional as F


class Loss:
    """Base class: ``__call__`` = ``forward``; ``backward()`` needs a forward first."""

    def __init__(self):
        self._cache = None

    def __call__(self, output, target) -> float:
        return self.forward(output, target)

    def _saved(self):
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward() called before the loss was computed")
        return self._cache

    def _check_output(self, output, ndim=None, layout="(N, ...)"):
        if not isinstance(output, np.ndarray) or not np.issubdtype(output.dtype, np.floating):
            got = output.dtype if isinstance(output, np.ndarray) else type(output).__name__
            raise TypeError(f"{self!r}: expected a floating-point NumPy array {layout}, got {got}")
        if (ndim is not None and output.ndim != ndim) or output.shape[0] == 0:
            raise ValueError(f"{self!r}: expected output of shape {layout}, got {output.shape}")


class CrossEntropyLoss(Loss):
    """Softmax cross-entropy on logits (torch.nn.CrossEntropyLoss, mean reduction).

    Parameters
    ----------
    label_smoothing : float in [0, 1], default 0
        The target distribution becomes ``(1 - s) * target + s / K``.

    Forward: with ``q`` the (smoothed) target distribution over K classes,
    ``loss = -(1/N) * sum_n sum_k q[n, k] * log_softmax(logits)[n, k]``, computed with
    log-sum-exp so logits of +-1e4 give finite values.
    Backward: ``d loss / d logits = (softmax(logits) - q) / N``.

    ``target`` is either integer class labels of shape (N,) or class probabilities (N, K).
    """

    def __init__(self, label_smoothing: float = 0.0):
        super().__init__()
        if (not isinstance(label_smoothing, (int, float)) or isinstance(label_smoothing, bool)
                or not 0.0 <= label_smoothing <= 1.0):
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be a number in [0, 1], "
                             f"got {label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits, target) -> float:
        self._check_output(logits, 2, "(N, K) logits")
        q = self._target_distribution(logits, target)  # (N, K)
        log_probs = F.log_softmax(logits, axis=1)  # (N, K)
        value = -float(np.sum(q * log_probs)) / logits.shape[0]
        self._cache = (np.exp(log_probs), q)
        return value

    def backward(self):
        probabilities, q = self._saved()
        return (probabilities - q) / probabilities.shape[0]

    def _target_distribution(self, logits, target):
        n, k = logits.shape
        target = np.asarray(target)
        if target.ndim == 1 and np.issubdtype(target.dtype, np.integer):
            if target.shape[0] != n:
                raise ValueError(f"{self!r}: got {n} logits rows but {target.shape[0]} labels")
            if target.size and (target.min() < 0 or target.max() >= k):
                raise ValueError(f"{self!r}: labels must be in [0, {k - 1}] for {k} classes, "
                                 f"got values in [{target.min()}, {target.max()}]")
            q = np.zeros_like(logits)
            q[np.arange(n), target] = 1
        elif target.shape == logits.shape and np.issubdtype(target.dtype, np.floating):
            self._check_probabilities(target)
            q = target.astype(logits.dtype, copy=True)
        else:
            raise ValueError(f"{self!r}: target must be integer labels of shape ({n},) or "
                             f"probabilities of shape {logits.shape}, got {target.dtype} {target.shape}")
        if self.label_smoothing:
            q = q * (1 - self.label_smoothing) + self.label_smoothing / k
        return q

    def _check_probabilities(self, target) -> None:
        """Probability targets: finite, non-negative, each row summing to 1 (to 1e-4 relative)."""
        if not np.all(np.isfinite(target)):
            raise ValueError(f"{self!r}: probability targets hold NaN or infinite values")
        if target.size and target.min() < 0:
            raise ValueError(f"{self!r}: probability targets must be non-negative, got a minimum "
                             f"of {target.min():.4g}")
        sums = target.sum(axis=1, dtype=np.float64)  # (N,)
        worst = int(np.argmax(np.abs(sums - 1)))
        if abs(sums[worst] - 1) > 1e-4:
            raise ValueError(f"{self!r}: each row of probability targets must sum to 1, row "
                             f"{worst} sums to {sums[worst]:.6g}; normalise it or pass integer labels")

    def __repr__(self):
        smoothing = f"label_smoothing={self.label_smoothing}" if self.label_smoothing else ""
        return f"CrossEntropyLoss({smoothing})"


class MSELoss(Loss):
    """Mean squared error over all elements (torch.nn.MSELoss, mean reduction).

    Forward: ``loss = mean((output - target)**2)``.
    Backward: ``d loss / d output = 2 * (output - target) / output.size``.
    """

    def forward(self, output, target) -> float:
        self._check_output(output)
        target = np.asarray(target)
        if target.shape != output.shape:
            raise ValueError(f"{self!r}: target shape {target.shape} differs from output shape "
                             f"{output.shape}")
        if target.dtype.kind not in "iuf" or not np.all(np.isfinite(target)):
            raise ValueError(f"{self!r}: target must hold finite numbers, got {target.dtype} "
                             f"with NaN, infinite or non-numeric values")
        difference = output - target.astype(output.dtype, copy=False)
        self._cache = difference
        return float(np.mean(difference * difference))

    def backward(self):
        difference = self._saved()
        return difference * (2.0 / difference.size)

    def __repr__(self):
        return "MSELoss()"
