"""GlobalAvgPool2d against torch's AdaptiveAvgPool2d(1) + Flatten in float64, gradcheck, errors."""

import re

import numpy as np
import pytest
import torch

import convnp as cn


def torch_twin():
    return torch.nn.Sequential(torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten())


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("seed", range(30))
def test_matches_torch(seed, mode, torch_check):
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 9, size=4))
    layer, module = cn.GlobalAvgPool2d().train(mode == "train"), torch_twin().train(mode == "train")
    torch_check(layer, module, rng.standard_normal(shape) * 3, rng, config=mode)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradcheck_and_dtype(dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 5)).astype(dtype)
    layer = cn.GlobalAvgPool2d()
    assert cn.gradcheck(layer, x) is True
    y = layer(x)
    assert y.shape == (2, 3) and y.dtype == dtype
    dx = layer.backward(np.ones_like(y))
    assert dx.dtype == dtype and dx.flags.writeable
    np.testing.assert_allclose(dx, np.full(x.shape, 1 / 20), rtol=1e-6)


def test_errors():
    layer = cn.GlobalAvgPool2d()
    with pytest.raises(RuntimeError, match=re.escape("GlobalAvgPool2d(): backward() called before")):
        layer.backward(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=re.escape("GlobalAvgPool2d(): expected input of shape (N, C, H, W), "
                                                   "got (2, 3, 4)")):
        layer(np.zeros((2, 3, 4)))
    with pytest.raises(TypeError, match=re.escape("GlobalAvgPool2d(): expected a floating-point array")):
        layer(np.zeros((2, 3, 4, 4), dtype=np.uint8))
    layer(np.zeros((2, 3, 4, 4)))
    message = "GlobalAvgPool2d(): backward expected dy of shape (2, 3) ("
    with pytest.raises(ValueError, match=re.escape(message)):
        layer.backward(np.zeros((2, 3, 1, 1)))
    assert layer.parameters() == [] and layer.config() == {}
