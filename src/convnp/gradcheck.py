"""Finite-difference check of a layer's hand-written backward pass."""

from __future__ import annotations

import numpy as np


class GradcheckError(AssertionError):
    """Raised by :func:`gradcheck` when analytic and numeric gradients disagree."""


def gradcheck(layer, x, *, eps=1e-6, atol=1e-6, rtol=1e-4, seed=0) -> bool:
    """Compare a layer's backward pass with central differences, in float64.

    The scalar checked is ``f = sum(layer(x) * g)`` for a fixed random ``g``; its gradient with
    respect to the input is ``layer.backward(g)`` and with respect to each Parameter its ``grad``.
    Every element ``v`` of the input and of every parameter is perturbed:
    ``numeric = (f(v + eps) - f(v - eps)) / (2 * eps)``, and must satisfy
    ``|analytic - numeric| <= atol + rtol * |numeric|``.

    The layer's parameters are cast to float64 for the check and restored afterwards (values and
    gradients), so float32 layers can be checked too.

    Parameters
    ----------
    layer : Layer (or Sequential)
    x : ndarray, an input the layer accepts
    eps, atol, rtol : float
    seed : int
        Seed for the upstream gradient ``g``.

    Returns
    -------
    True when every element passes.

    Raises
    ------
    GradcheckError
        Naming the worst element (input or ``name[index]``), both values and how many failed.
    """
    params = layer.named_parameters()
    saved = {name: (p.data, p.grad) for name, p in params.items()}
    try:
        for p in params.values():
            p.data = p.data.astype(np.float64)
            p.grad = np.zeros_like(p.data)
        x64 = np.array(x, dtype=np.float64)
        g = np.random.default_rng(seed).standard_normal(layer.forward(x64).shape)
        dx = layer.backward(g)
        checks = {name: (p.data, p.grad.copy()) for name, p in params.items()}
        if dx is not None:
            checks = {"input": (x64, np.asarray(dx)), **checks}

        def objective():
            return float(np.sum(layer.forward(x64) * g))

        failures = [_compare(name, values, analytic, objective, eps, atol, rtol)
                    for name, (values, analytic) in checks.items()]
    finally:
        for name, p in params.items():
            p.data, p.grad = saved[name]
    _raise_on_failure(layer, [f for f in failures if f is not None])
    return True


def _compare(name, values, analytic, objective, eps, atol, rtol):
    """Perturb every element of ``values`` in place; return the worst failure or None."""
    worst, failed = None, 0
    flat = values.reshape(-1)  # a view: writing it perturbs the array the layer reads
    for i in range(flat.size):
        original = flat[i]
        flat[i] = original + eps
        plus = objective()
        flat[i] = original - eps
        minus = objective()
        flat[i] = original
        numeric = (plus - minus) / (2 * eps)
        exact = analytic.reshape(-1)[i]
        excess = abs(exact - numeric) - (atol + rtol * abs(numeric))
        if excess > 0:
            failed += 1
            if worst is None or excess > worst[0]:
                index = np.unravel_index(i, values.shape)
                worst = (excess, f"{name}[{', '.join(map(str, index))}]", exact, numeric)
    return None if worst is None else (*worst, failed, values.size)


def _raise_on_failure(layer, failures):
    if not failures:
        return
    excess, where, exact, numeric, failed, total = max(failures, key=lambda f: f[0])
    others = "; ".join(f"{f[1].split('[')[0]}: {f[4]}/{f[5]} elements" for f in failures)
    raise GradcheckError(f"gradcheck({layer!r}) failed at {where}: analytic {exact:.10g}, "
                         f"numeric {numeric:.10g} (|difference| exceeds tolerance by {excess:.3g}). "
                         f"Failing: {others}")
