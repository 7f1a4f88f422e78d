"""Properties every layer has: finite-difference gradients, dtype kept, layout-independent
results, and an untouched upstream gradient."""

import re

import numpy as np
import pytest

import convnp as cn

IMAGE = (2, 2, 5, 6)  # (N, C, H, W) for convolution and pooling
FEATURES = (3, 12)  # (N, in_features) for Linear

# id -> (factory(dtype) building the layer, input shape)
LAYER_CASES = {
    "conv-pad1": (lambda dt: cn.Conv2d(2, 3, 3, padding=1, dtype=dt, rng=0), IMAGE),
    "conv-rect-nobias": (lambda dt: cn.Conv2d(2, 3, (2, 3), (2, 1), (1, 0), bias=False, dtype=dt,
                                              rng=1), IMAGE),
    "conv-same-even": (lambda dt: cn.Conv2d(2, 2, 2, padding="same", dtype=dt, rng=2), IMAGE),
    "maxpool": (lambda dt: cn.MaxPool2d(2), IMAGE),
    "maxpool-overlap-pad": (lambda dt: cn.MaxPool2d(3, stride=1, padding=1), IMAGE),
    "avgpool": (lambda dt: cn.AvgPool2d(2), IMAGE),
    "avgpool-rect-pad": (lambda dt: cn.AvgPool2d((3, 2), stride=(1, 2), padding=(1, 0)), IMAGE),
    "linear": (lambda dt: cn.Linear(12, 5, dtype=dt, rng=0), FEATURES),
    "linear-nobias": (lambda dt: cn.Linear(12, 5, bias=False, dtype=dt, rng=1), FEATURES),
    "flatten": (lambda dt: cn.Flatten(), IMAGE),
    "relu": (lambda dt: cn.ReLU(), IMAGE),
    "leaky-relu": (lambda dt: cn.LeakyReLU(0.1), IMAGE),
    "sigmoid": (lambda dt: cn.Sigmoid(), FEATURES),
    "tanh": (lambda dt: cn.Tanh(), FEATURES),
    "elu": (lambda dt: cn.ELU(1.5), IMAGE),
    "selu": (lambda dt: cn.SELU(), IMAGE),
    "softplus": (lambda dt: cn.Softplus(beta=2.0, threshold=3.0), IMAGE),
    "softmax": (lambda dt: cn.Softmax(), FEATURES),
    "softmax-last-4d": (lambda dt: cn.Softmax(dim=-1), IMAGE),
}


def smooth_input(shape, seed=0, dtype=np.float64):
    """Distinct values at least 0.01 apart and away from 0 and from Softplus's threshold.

    Central differences need the layer to be smooth around ``x``: no ReLU kink at 0, no change
    of max-pool winner, no softplus switch, within ``eps``.
    """
    rng = np.random.default_rng(seed)
    size = int(np.prod(shape))
    values = (rng.permutation(size) - size / 2 + 0.5) * (3.0 / size) + 0.003  # in (-1.5, 1.5)
    return values.reshape(shape).astype(dtype)


@pytest.mark.parametrize("case", LAYER_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradcheck_passes(case, dtype):
    factory, shape = LAYER_CASES[case]
    layer = factory(dtype)
    assert cn.gradcheck(layer, smooth_input(shape, dtype=dtype)) is True
    for param in layer.parameters():  # gradcheck gives a float32 layer back as it was
        assert param.data.dtype == param.grad.dtype == dtype


@pytest.mark.parametrize("case", ["relu", "conv-pad1", "maxpool-overlap-pad", "linear", "softmax"])
def test_gradcheck_catches_wrong_input_gradient(case, monkeypatch):
    factory, shape = LAYER_CASES[case]
    layer = factory(np.float64)
    correct_backward = layer.backward
    monkeypatch.setattr(layer, "backward", lambda dy: 1.01 * correct_backward(dy))
    with pytest.raises(cn.GradcheckError, match=r"failed at input\[\d+(, \d+)*\]"):
        cn.gradcheck(layer, smooth_input(shape))


@pytest.mark.parametrize("case, name, index", [("conv-pad1", "weight", (1, 0, 2, 1)),
                                                ("conv-pad1", "bias", (2,)),
                                                ("linear", "weight", (3, 7)),
                                                ("linear", "bias", (0,))])
def test_gradcheck_catches_wrong_parameter_gradient_and_names_element(case, name, index,
                                                                      monkeypatch):
    factory, shape = LAYER_CASES[case]
    layer = factory(np.float64)
    correct_backward = layer.backward

    def broken_backward(dy):
        dx = correct_backward(dy)
        getattr(layer, name).grad[index] += 0.05  # one wrong element
        return dx

    monkeypatch.setattr(layer, "backward", broken_backward)
    where = f"{name}[{', '.join(map(str, index))}]"
    with pytest.raises(cn.GradcheckError, match="failed at " + re.escape(where)):
        cn.gradcheck(layer, smooth_input(shape))


def forward_backward(layer, x, dy_seed=1):
    """Forward ``x``, backward a random ``dy``; return (y, dx, [param grads], dy)."""
    y = layer.forward(x)
    dy = np.random.default_rng(dy_seed).standard_normal(y.shape).astype(y.dtype)
    dx = layer.backward(dy)
    return y, dx, [p.grad.copy() for p in layer.parameters()], dy


@pytest.mark.parametrize("case", LAYER_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept_end_to_end(case, dtype):
    factory, shape = LAYER_CASES[case]
    layer = factory(dtype)
    y, dx, grads, _ = forward_backward(layer, smooth_input(shape, dtype=dtype))
    assert y.dtype == dtype, f"forward gave {y.dtype}"
    assert dx.dtype == dtype, f"backward gave {dx.dtype}"
    assert dx.shape == shape
    for param, grad in zip(layer.parameters(), grads, strict=True):
        assert param.data.dtype == grad.dtype == dtype, f"{param.name}.grad is {grad.dtype}"


def non_contiguous_copies(x):
    """The same values as ``x`` in two non-C-contiguous layouts: Fortran order, and a step-2 view."""
    fortran = np.asfortranarray(x)
    wide = np.zeros(x.shape[:-1] + (2 * x.shape[-1],), dtype=x.dtype)
    wide[..., ::2] = x
    strided = wide[..., ::2]
    assert not fortran.flags.c_contiguous and not strided.flags.c_contiguous
    return {"fortran": fortran, "step-slice": strided}


@pytest.mark.parametrize("case", LAYER_CASES)
def test_non_contiguous_input_gives_same_results(case):
    factory, shape = LAYER_CASES[case]
    x = smooth_input(shape)
    expected = forward_backward(factory(np.float64), x)
    for layout, x_view in non_contiguous_copies(x).items():
        actual = forward_backward(factory(np.float64), x_view)
        for got, want, what in zip(actual[:2], expected[:2], ["forward", "dx"], strict=True):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-13, err_msg=f"{what}, {layout}")
        for got, want in zip(actual[2], expected[2], strict=True):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-13, err_msg=f"grads, {layout}")


@pytest.mark.parametrize("case", LAYER_CASES)
def test_non_contiguous_dy_gives_same_results(case):
    factory, shape = LAYER_CASES[case]
    x = smooth_input(shape)
    layer = factory(np.float64)
    y, dx, grads, dy = forward_backward(layer, x)
    for layout, dy_view in non_contiguous_copies(dy).items():
        np.testing.assert_allclose(layer.backward(dy_view), dx, rtol=0, atol=1e-13, err_msg=layout)
        for param, grad in zip(layer.parameters(), grads, strict=True):
            np.testing.assert_allclose(param.grad, grad, rtol=0, atol=1e-13, err_msg=layout)


@pytest.mark.parametrize("case", LAYER_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_backward_never_mutates_dy_or_x(case, dtype):
    factory, shape = LAYER_CASES[case]
    layer = factory(dtype)
    x = smooth_input(shape, dtype=dtype)
    x_before = x.copy()
    y = layer.forward(x)
    dy = np.random.default_rng(0).standard_normal(y.shape).astype(dtype)
    dy_before = dy.copy()
    dx = layer.backward(dy)
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dy, dy_before)
    np.testing.assert_array_equal(x, x_before)


@pytest.mark.parametrize("case", LAYER_CASES)
def test_backward_overwrites_parameter_grads(case):
    factory, shape = LAYER_CASES[case]
    layer = factory(np.float64)
    x = smooth_input(shape)
    _, _, first, _ = forward_backward(layer, x)
    _, _, second, _ = forward_backward(layer, x)  # same x and dy: grads equal, not doubled
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
