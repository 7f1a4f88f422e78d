"""Activations against torch.nn in float64 (1e-10), including extreme inputs and non-default params."""

import warnings

import numpy as np
import pytest
import torch

import convnp as cn
import convnp.functional as F

# name -> function(rng) returning (convnp layer, torch module) with random non-default
# parameters half of the time (rng is None: defaults).
ACTIVATIONS = {
    "ReLU": lambda rng: (cn.ReLU(), torch.nn.ReLU()),
    "LeakyReLU": lambda rng: _with_params(cn.LeakyReLU, torch.nn.LeakyReLU, rng,
                                          negative_slope=lambda r: r.uniform(-0.5, 2.0)),
    "Sigmoid": lambda rng: (cn.Sigmoid(), torch.nn.Sigmoid()),
    "Tanh": lambda rng: (cn.Tanh(), torch.nn.Tanh()),
    "ELU": lambda rng: _with_params(cn.ELU, torch.nn.ELU, rng, alpha=lambda r: r.uniform(0.1, 3)),
    "SELU": lambda rng: (cn.SELU(), torch.nn.SELU()),
    "Softplus": lambda rng: _with_params(cn.Softplus, torch.nn.Softplus, rng,
                                         beta=lambda r: r.uniform(0.2, 4),
                                         threshold=lambda r: r.uniform(1, 30)),
    "Softmax": lambda rng: (cn.Softmax(), torch.nn.Softmax(dim=1)),  # other dims: own test
}


def _with_params(ours, theirs, rng, **draw):
    """Both layers built with the same randomly drawn keyword arguments, or defaults."""
    if rng is None or rng.random() < 0.5:
        return ours(), theirs()
    kwargs = {name: float(sample(rng)) for name, sample in draw.items()}
    return ours(**kwargs), theirs(**kwargs)


def random_input(rng, min_rank=2):
    """A float64 array of rank 2-5 with values at several scales and some exact zeros."""
    shape = tuple(int(v) for v in rng.integers(1, 6, size=int(rng.integers(min_rank, 6))))
    x = rng.standard_normal(shape) * rng.choice([0.5, 3.0, 25.0])
    x[rng.random(shape) < 0.1] = 0.0
    return x


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_matches_torch(name, seed, torch_check):
    rng = np.random.default_rng(seed)
    layer, module = ACTIVATIONS[name](rng)
    torch_check(layer, module, random_input(rng), rng)


@pytest.mark.parametrize("seed", range(30))
def test_softmax_any_dim_matches_torch(seed, torch_check):
    rng = np.random.default_rng(seed)
    x = random_input(rng, min_rank=1)
    dim = int(rng.integers(-x.ndim, x.ndim))
    torch_check(cn.Softmax(dim), torch.nn.Softmax(dim=dim), x, rng, config=f"dim={dim}")


@pytest.mark.parametrize("dim", [-1, 1, 2, 3, -4])
def test_softmax_on_4d_input(dim, torch_check):
    rng = np.random.default_rng(abs(dim))
    torch_check(cn.Softmax(dim), torch.nn.Softmax(dim=dim), rng.standard_normal((2, 3, 4, 5)), rng)


EXTREMES = np.array([-1e4, -1e3, -100.0, -30.0, -20.0, -1.0, -1e-8, 0.0, 1e-8, 1.0, 20.0, 30.0,
                     100.0, 1e3, 1e4])

EXTREME_CASES = [
    ("ReLU", {}), ("LeakyReLU", {}), ("LeakyReLU", {"negative_slope": 0.2}),
    ("Sigmoid", {}), ("Tanh", {}), ("ELU", {}), ("ELU", {"alpha": 2.5}), ("SELU", {}),
    ("Softplus", {}), ("Softplus", {"beta": 2.0, "threshold": 5.0}),
    ("Softplus", {"beta": 0.5, "threshold": 40.0}), ("Softmax", {"dim": 1}),
    ("Softmax", {"dim": -1}), ("Softmax", {"dim": 0}),
]


@pytest.mark.parametrize("name, kwargs", EXTREME_CASES, ids=str)
def test_extreme_inputs_match_torch_without_warnings(name, kwargs, torch_check):
    """+-1e4 must not overflow: no warning, no inf/nan, same values and gradients as torch.

    Underflow (exp(-1e4) rounding to 0) is the correct answer and is ignored, as numpy does by
    default; overflow, invalid operations and division by zero are errors.
    """
    rng = np.random.default_rng(0)
    x = np.stack([EXTREMES, EXTREMES[::-1], rng.permutation(EXTREMES)])  # (3, 15)
    layer = getattr(cn, name)(**kwargs)
    module = getattr(torch.nn, name)(**kwargs)
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        y = layer(x)
        dx = layer.backward(np.ones_like(y))
        torch_check(layer, module, x, rng, config=str(kwargs))
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_float32_extremes_stay_finite(name):
    x = EXTREMES.astype(np.float32).reshape(3, 5)
    layer, _ = ACTIVATIONS[name](None)
    with warnings.catch_warnings(), np.errstate(all="raise", under="ignore"):
        warnings.simplefilter("error")
        y = layer(x)
        dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert np.all(np.isfinite(y)) and np.all(np.isfinite(dx))


def test_relu_gradient_at_zero_is_zero():
    layer = cn.ReLU()
    layer(np.array([[-1.0, 0.0, 2.0]]))
    np.testing.assert_array_equal(layer.backward(np.ones((1, 3))), [[0.0, 0.0, 1.0]])


def test_selu_constants_are_torchs():
    assert cn.functional.activations.SELU_ALPHA == pytest.approx(1.6732632423543772, rel=1e-16)
    assert cn.functional.activations.SELU_SCALE == pytest.approx(1.0507009873554805, rel=1e-16)


def test_softmax_dim_out_of_range_raises():
    with pytest.raises(ValueError, match=r"Softmax\(dim=3\).*out of range"):
        cn.Softmax(3)(np.zeros((2, 3)))


def _layouts(rng, dtype):
    """One (N, C, H, W) array in several memory layouts: C order, channels-last, Fortran order,
    a strided slice and a reversed view (the last two are not one block of memory)."""
    base = rng.standard_normal((3, 5, 4, 7)).astype(dtype) * 3
    base[base > 4] = np.nan
    base[0, 0, 0, :2] = (-0.0, 0.0)
    channels_last = np.ascontiguousarray(base.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    return {"C": base, "channels-last": channels_last, "F": np.asfortranarray(base),
            "strided": base[:, ::2], "reversed": base[::-1, :, ::-1]}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("relu", ["textbook", "fast"])
def test_relu_forward_is_maximum_with_zero_in_any_layout_and_chunking(dtype, relu, monkeypatch):
    from convnp.fast import activations

    monkeypatch.setattr(activations, "ZEROS_CHUNK", 37)  # 420 elements: 11 full chunks and a part
    relu = F.relu if relu == "textbook" else activations.relu
    for layout, x in _layouts(np.random.default_rng(0), dtype).items():
        y = relu(x)
        np.testing.assert_array_equal(y, np.maximum(x, 0), err_msg=layout)  # NaN stays NaN
        assert y.dtype == dtype
        if layout in ("C", "channels-last", "F"):  # the output is laid out as the input
            assert y.strides == x.strides, layout


@pytest.mark.parametrize("dy_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("relu_backward", ["textbook", "fast"])
def test_relu_backward_in_any_mix_of_layouts_and_dtypes(dy_dtype, relu_backward):
    from convnp import fast

    relu_backward = F.relu_backward if relu_backward == "textbook" else fast.relu_backward
    rng = np.random.default_rng(1)
    for y_layout, y in _layouts(rng, np.float32).items():  # y: relu's input, with NaN
        for dy_layout, dy in _layouts(rng, dy_dtype).items():
            if dy.shape != y.shape:
                continue
            dx = relu_backward(dy, y)
            expected = np.where(y <= 0, 0, dy).astype(np.result_type(dy, y))  # torch's rule
            np.testing.assert_array_equal(dx, expected, err_msg=f"y {y_layout}, dy {dy_layout}")
            assert dx.dtype == np.result_type(dy, y)


def test_relu_gradient_at_nan_and_inf_matches_torch():
    x = np.array([[-1.0, 0.0, 2.0, np.nan, -3.0, 4.0]])
    dy = np.array([[np.inf, np.nan, np.nan, 5.0, -np.inf, np.inf]])
    layer = cn.ReLU()
    layer.forward(x)
    x_torch = torch.from_numpy(x.copy()).requires_grad_(True)
    torch.relu(x_torch).backward(torch.from_numpy(dy))
    np.testing.assert_array_equal(layer.backward(dy), x_torch.grad.numpy())  # [0, 0, nan, 5, 0, inf]


def test_relu_inplace_works_in_place_and_refuses_strided_arrays():
    from convnp.fast.activations import relu_inplace

    a = np.array([[-1.0, 2.0], [np.nan, -0.5]])
    assert relu_inplace(a) is a
    np.testing.assert_array_equal(a, [[0.0, 2.0], [np.nan, 0.0]])
    channels_last = np.array([[[[-1.0, 3.0]], [[2.0, -4.0]]]]).transpose(0, 3, 1, 2)  # NCHW view of NHWC
    assert relu_inplace(channels_last) is channels_last
    np.testing.assert_array_equal(channels_last, [[[[0.0], [2.0]], [[3.0], [0.0]]]])
    with pytest.raises(ValueError, match=r"relu_inplace: expected an array that is one block of memory, got "
                                         r"shape \(2,\)"):
        relu_inplace(np.ones((2, 2))[:, 0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_tanh_is_the_textbooks_in_any_layout(dtype):
    from convnp import fast

    for layout, x in _layouts(np.random.default_rng(2), dtype).items():
        y = fast.tanh(x)
        np.testing.assert_array_equal(y, F.tanh(x), err_msg=layout)  # NaN stays NaN
        assert y.dtype == dtype
        if layout in ("C", "channels-last", "F"):  # the output is laid out as the input
            assert y.strides == x.strides, layout


@pytest.mark.parametrize("dy_dtype", [np.float32, np.float64])
@pytest.mark.parametrize("piece", [37, 2**15])  # 420 elements: 11 full pieces and a part; one piece
def test_fast_tanh_backward_is_the_textbooks_in_any_mix_of_layouts_and_dtypes(dy_dtype, piece, monkeypatch):
    from convnp import fast
    from convnp.fast import activations

    monkeypatch.setattr(activations, "PIECE", piece)
    rng = np.random.default_rng(4)
    for y_layout, x in _layouts(rng, np.float32).items():
        y = np.tanh(x)  # tanh's output, with NaN
        y[0, 0, 0, -1] = -1.0  # saturated: the gradient vanishes exactly
        for dy_layout, dy in _layouts(rng, dy_dtype).items():
            if dy.shape != y.shape:
                continue
            dx = fast.tanh_backward(dy, y)
            np.testing.assert_array_equal(dx, F.tanh_backward(dy, y), err_msg=f"y {y_layout}, dy {dy_layout}")
            assert dx.dtype == np.result_type(dy, y)
            assert dx[0, 0, 0, -1] == 0 or np.isnan(dy[0, 0, 0, -1])


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_tanh_layer_runs_the_engine_it_was_called_under(engine, monkeypatch):
    from convnp import fast

    module, calls = (fast if engine == "fast" else F), []
    for name in ("tanh", "tanh_backward"):
        function = getattr(module, name)
        monkeypatch.setattr(module, name, lambda *args, f=function, n=name: calls.append(n) or f(*args))
    layer, x = cn.Tanh(), np.linspace(-3, 3, 12).reshape(3, 4)
    with cn.engine(engine):
        y = layer.forward(x)
    layer.backward(np.ones_like(y))  # the engine of the forward pass, whatever the current one
    assert calls == ["tanh", "tanh_backward"]
    np.testing.assert_array_equal(y, np.tanh(x))
