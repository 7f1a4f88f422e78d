"""Linear and Flatten against torch.nn in float64, and Linear's default initialisation."""

import math

import numpy as np
import pytest
import torch

import convnp as cn
from convnp import fast


def torch_linear_like(layer):
    """A float64 torch.nn.Linear holding ``layer``'s weights (same (out, in) layout)."""
    module = torch.nn.Linear(layer.in_features, layer.out_features, bias=layer.bias is not None,
                             dtype=torch.float64)
    module.weight.data = torch.from_numpy(layer.weight.data.copy())
    if layer.bias is not None:
        module.bias.data = torch.from_numpy(layer.bias.data.copy())
    return module


@pytest.mark.parametrize("seed", range(30))
def test_linear_matches_torch(seed, torch_check):
    rng = np.random.default_rng(seed)
    batch, in_features, out_features = (int(v) for v in rng.integers(1, [6, 40, 20]))
    bias = bool(rng.random() < 0.7)
    layer = cn.Linear(in_features, out_features, bias, dtype=np.float64, rng=seed)
    x = rng.standard_normal((batch, in_features))
    torch_check(layer, torch_linear_like(layer), x, rng, config=f"bias={bias}")


@pytest.mark.parametrize("seed", range(30))
def test_flatten_matches_torch(seed, torch_check):
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 6, size=int(rng.integers(2, 6))))
    torch_check(cn.Flatten(), torch.nn.Flatten(), rng.standard_normal(shape), rng)


def test_flatten_then_linear_matches_torch_on_images(torch_check):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 4, 5, 6))
    flatten, linear = cn.Flatten(), cn.Linear(120, 7, dtype=np.float64, rng=0)
    module = torch.nn.Sequential(torch.nn.Flatten(), torch_linear_like(linear))
    y = linear(flatten(x))
    dy = rng.standard_normal(y.shape)
    dx = flatten.backward(linear.backward(dy))
    x_torch = torch.from_numpy(x).requires_grad_(True)
    module(x_torch).backward(torch.from_numpy(dy))
    np.testing.assert_allclose(dx, x_torch.grad.numpy(), rtol=0, atol=1e-10)
    np.testing.assert_allclose(linear.weight.grad, module[1].weight.grad.numpy(), rtol=0, atol=1e-10)


def test_default_init_is_torch_kaiming_uniform():
    in_features = 300
    layer = cn.Linear(in_features, 400, rng=0)
    bound = 1 / math.sqrt(in_features)
    weight, bias = layer.weight.data, layer.bias.data
    assert weight.shape == (400, 300) and weight.dtype == np.float32 and bias.shape == (400,)
    assert np.abs(weight).max() <= bound and np.abs(bias).max() <= bound
    assert abs(weight.std() - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3)
    assert abs(bias.std() - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3)
    counts, _ = np.histogram(weight, bins=4, range=(-bound, bound))
    assert np.all(np.abs(counts / weight.size - 0.25) < 0.02), counts


def test_rng_seed_is_reproducible():
    a, b, c = (cn.Linear(5, 4, rng=seed) for seed in (3, 3, 4))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(a.weight.data, c.weight.data)
    generator = np.random.default_rng(0)
    assert not np.array_equal(cn.Linear(5, 4, rng=generator).weight.data,
                              cn.Linear(5, 4, rng=generator).weight.data)  # a Generator advances


def test_bias_false():
    layer = cn.Linear(3, 2, bias=False, rng=0)
    assert layer.bias is None and len(layer.parameters()) == 1


def test_linear_backward_writes_dweight_into_the_given_array():
    rng = np.random.default_rng(0)
    x, weight, dy = rng.standard_normal((4, 6)), rng.standard_normal((3, 6)), rng.standard_normal((4, 3))
    out = np.full((3, 6), np.nan)
    _, dweight, _ = fast.linear_backward(dy, x, weight, dweight_out=out)
    assert dweight is out
    np.testing.assert_allclose(out, dy.T @ x, rtol=1e-14)
    layer = cn.Linear(6, 3, dtype=np.float64, rng=0)
    grad = layer.weight.grad
    layer.forward(x)
    layer.backward(dy)
    assert layer.weight.grad is grad  # written in place, not replaced
    np.testing.assert_allclose(grad, dy.T @ x, rtol=1e-14)


def test_linear_backward_rejects_a_dweight_out_of_the_wrong_shape():
    rng = np.random.default_rng(1)
    x, weight, dy = rng.standard_normal((4, 6)), rng.standard_normal((3, 6)), rng.standard_normal((4, 3))
    message = r"linear_backward: dweight_out must have the weight's shape \(3, 6\), got \(6, 3\)"
    with pytest.raises(ValueError, match=message):
        fast.linear_backward(dy, x, weight, dweight_out=np.empty((6, 3)))
