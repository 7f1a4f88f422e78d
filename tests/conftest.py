"""Shared fixtures: torch comparison helpers for the layer tests (float64, 1e-10)."""

from contextlib import ExitStack

import numpy as np
import pytest
import torch

TORCH_TOLERANCE = 1e-10


def assert_close(actual, expected, what, atol=TORCH_TOLERANCE):
    """Max-abs comparison with a message naming the quantity and the worst difference."""
    if isinstance(expected, torch.Tensor):
        expected = expected.detach().numpy()
    actual = np.asarray(actual)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    difference = np.max(np.abs(actual - expected), initial=0.0)
    assert difference <= atol, f"{what}: max |convnp - torch| = {difference:.3g} > {atol:g}"


def run_torch(module, x, dy):
    """Forward ``x`` through a torch module, backpropagate ``dy``; return (y, dx)."""
    x_torch = torch.from_numpy(x.copy()).requires_grad_(True)
    y = module(x_torch)
    y.backward(torch.from_numpy(dy.copy()))
    return y, x_torch.grad


def compare_with_torch(layer, module, x, rng, config=""):
    """Run ``layer`` and torch ``module`` on ``x`` with one random ``dy``; compare y, dx, grads.

    The torch module must already hold the layer's parameter values. Parameters are matched by
    name (``weight``, ``bias``), as in a torch ``state_dict``.
    """
    y = layer.forward(x)
    dy = rng.standard_normal(y.shape)
    dx = layer.backward(dy)
    y_torch, dx_torch = run_torch(module, x, dy)
    label = f"{layer!r} {config} x{x.shape}"
    assert_close(y, y_torch, f"forward of {label}")
    assert_close(dx, dx_torch, f"input gradient of {label}")
    torch_params = dict(module.named_parameters())
    assert set(layer.named_parameters()) == set(torch_params), label
    for name, param in layer.named_parameters().items():
        assert_close(param.grad, torch_params[name].grad, f"{name}.grad of {label}")


@pytest.fixture
def torch_check():
    """The :func:`compare_with_torch` helper (fixtures keep test files free of imports from here)."""
    return compare_with_torch


@pytest.fixture
def close():
    """The :func:`assert_close` helper."""
    return assert_close


@pytest.fixture
def routes():
    """An ExitStack closed when the test ends: enter the engine's route-forcing hooks on it."""
    with ExitStack() as stack:
        yield stack
