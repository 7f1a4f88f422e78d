"""MaxPool2d and AvgPool2d against torch.nn in float64: forward and input gradient to 1e-10."""

import numpy as np
import pytest
import torch

import convnp as cn
from helpers import as_pair, maybe_pair


def pool_config(seed):
    """Random pooling arguments: overlapping (stride < kernel) as often as not, padding <= k//2."""
    rng = np.random.default_rng(seed)
    kernel_size = maybe_pair(rng, 1, 5)
    kernel = as_pair(kernel_size)
    stride = [None, maybe_pair(rng, 1, 3), 1][int(rng.integers(3))]
    padding = (int(rng.integers(0, kernel[0] // 2 + 1)), int(rng.integers(0, kernel[1] // 2 + 1)))
    if padding[0] == padding[1] and rng.random() < 0.5:
        padding = padding[0]
    pads = as_pair(padding)
    while True:
        height, width = (int(v) for v in rng.integers(1, 16, size=2))
        if height + 2 * pads[0] >= kernel[0] and width + 2 * pads[1] >= kernel[1]:
            break
    return dict(batch=int(rng.integers(1, 6)), channels=int(rng.integers(1, 7)),
                hw=(height, width), kernel_size=kernel_size, stride=stride, padding=padding)


def pool_input(config, rng, values):
    """A float64 input: gaussian, small integers (many exact ties) or ReLU-like (many zeros)."""
    shape = (config["batch"], config["channels"], *config["hw"])
    if values == "integers":
        return rng.integers(-2, 3, size=shape).astype(np.float64)
    if values == "relu":
        return np.maximum(rng.standard_normal(shape), 0)
    if values == "constant":
        return np.full(shape, 0.5)
    return rng.standard_normal(shape)


LAYERS = {"max": (cn.MaxPool2d, torch.nn.MaxPool2d), "avg": (cn.AvgPool2d, torch.nn.AvgPool2d)}


def check_pool(kind, config, values, seed, torch_check):
    ours, theirs = LAYERS[kind]
    arguments = (config["kernel_size"], config["stride"], config["padding"])
    rng = np.random.default_rng(seed)
    torch_check(ours(*arguments), theirs(*arguments), pool_input(config, rng, values), rng,
                config=f"{config} values={values}")


@pytest.mark.parametrize("seed", range(40))
@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pooling_matches_torch_random_config(kind, seed, torch_check):
    check_pool(kind, pool_config(seed), "gaussian", seed, torch_check)


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("seed", range(20))
def test_textbook_pooling_matches_torch_random_config(kind, seed, torch_check):
    """The reference engine runs convnp.functional's windows -> max/argmax (or mean) -> col2im."""
    with cn.engine("reference"):
        check_pool(kind, pool_config(seed), "integers" if seed % 2 else "gaussian", seed, torch_check)


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("values", ["integers", "relu"])
def test_max_pool_ties_route_gradient_to_first_maximum_like_torch(values, seed, torch_check):
    check_pool("max", pool_config(100 + seed), values, seed, torch_check)


@pytest.mark.parametrize("kernel, stride, padding", [(2, 1, 1), (3, 1, 1), ((3, 2), (1, 2), (1, 0))])
def test_max_pool_constant_input_sends_all_gradient_to_window_corner(kernel, stride, padding,
                                                                     torch_check):
    config = dict(batch=2, channels=3, hw=(5, 6), kernel_size=kernel, stride=stride,
                  padding=padding)
    check_pool("max", config, "constant", 0, torch_check)


def test_max_pool_tie_goes_to_first_in_row_major_order():
    x = np.zeros((1, 1, 2, 2))
    layer = cn.MaxPool2d(2)
    layer(x)
    dx = layer.backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx[0, 0], [[1, 0], [0, 0]])


@pytest.mark.parametrize("kind", ["max", "avg"])
def test_pool_stride_defaults_to_kernel(kind):
    layer = LAYERS[kind][0]((2, 3))
    assert layer.stride == (2, 3)
    assert layer(np.zeros((1, 1, 7, 9), dtype=np.float32)).shape == (1, 1, 3, 3)


def test_avg_pool_counts_padding_in_the_mean():
    y = cn.AvgPool2d(3, stride=1, padding=1)(np.ones((1, 1, 3, 3)))
    np.testing.assert_allclose(y[0, 0], [[4 / 9, 6 / 9, 4 / 9], [6 / 9, 1, 6 / 9],
                                         [4 / 9, 6 / 9, 4 / 9]], rtol=1e-15)


@pytest.mark.parametrize("gather", [False, True], ids=["strided-forward", "gathered-forward"])
def test_max_pool_routes_the_gradient_to_a_nan_like_torch(routes, gather):
    """The engine routes a NaN maximum's gradient as torch does (the last NaN of the window)."""
    from convnp.fast import force_pool_route

    routes.enter_context(force_pool_route(gather=gather))
    x = np.arange(2 * 3 * 6 * 6, dtype=np.float64).reshape(2, 3, 6, 6) % 7
    x[0, 1, 2, 3] = np.nan
    x[1, 2, 0, 0] = np.nan
    x[1, 2, 1, 1] = np.nan  # two NaNs in one window: torch routes to the last one
    layer = cn.MaxPool2d(3, stride=2, padding=1)
    y = layer.forward(x)
    dy = np.random.default_rng(0).standard_normal(y.shape)
    dx = layer.backward(dy)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.nn.functional.max_pool2d(xt, 3, 2, 1)
    yt.backward(torch.from_numpy(dy))
    np.testing.assert_array_equal(np.isnan(y), np.isnan(yt.detach().numpy()))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("gather", [False, True], ids=["strided-forward", "gathered-forward"])
@pytest.mark.parametrize("pool_args", [(2,), (3, 2, 1)], ids=["tiled", "overlapping"])
def test_max_pool_sends_an_inf_or_nan_gradient_only_to_the_maximum(routes, gather, pool_args):
    """An inf or NaN in ``dy`` reaches its window's maximum and nothing else (0 * inf would be
    NaN): the engine, the textbook and torch agree, float32 and float64."""
    from convnp.fast import force_pool_route

    routes.enter_context(force_pool_route(gather=gather))
    rng = np.random.default_rng(11)
    for dtype in (np.float64, np.float32):
        x = rng.standard_normal((2, 3, 6, 8)).astype(dtype)
        layer = cn.MaxPool2d(*pool_args)
        y = layer.forward(x)
        dy = rng.standard_normal(y.shape).astype(dtype)
        dy[0, 0, 0, 0], dy[1, 2, 1, 1], dy[0, 1, 2, 3] = np.inf, -np.inf, np.nan
        dx = layer.backward(dy)
        xt = torch.tensor(x, requires_grad=True)
        torch.nn.functional.max_pool2d(xt, *pool_args).backward(torch.from_numpy(dy))
        tolerance = 1e-6 if dtype == np.float32 else 1e-12  # overlapping windows add in another order
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=tolerance, atol=0)  # NaN and inf placed alike
        with cn.engine("reference"):
            reference = cn.MaxPool2d(*pool_args)
            reference.forward(x)
            np.testing.assert_allclose(reference.backward(dy), dx, rtol=tolerance, atol=0)
        assert np.isinf(dx).sum() == 2 and np.isnan(dx).sum() == 1


@pytest.mark.parametrize("kernel, hw", [(2, (8, 6)), (3, (9, 6)), ((2, 3), (4, 9)), (1, (3, 5))])
@pytest.mark.parametrize("values", ["relu", "integers"])
def test_max_pool_windows_that_tile_the_input_exactly_match_torch(kernel, hw, values, torch_check):
    """Stride = kernel and sizes divisible: backward writes every element without zero-filling first."""
    config = dict(batch=3, channels=4, hw=hw, kernel_size=kernel, stride=None, padding=0)
    check_pool("max", config, values, 5, torch_check)


@pytest.mark.parametrize("gather", [False, True], ids=["strided-forward", "gathered-forward"])
def test_max_pool_tiled_windows_route_nan_like_torch(routes, gather):
    from convnp.fast import force_pool_route

    routes.enter_context(force_pool_route(gather=gather))
    x = np.maximum(np.random.default_rng(2).standard_normal((2, 3, 6, 8)), 0)
    x[0, 1, 2, 3] = np.nan
    x[1, 0, 4, 4] = x[1, 0, 5, 5] = np.nan  # two NaNs in one 2x2 window: the last one gets it
    layer = cn.MaxPool2d(2)
    dy = np.random.default_rng(3).standard_normal((2, 3, 3, 4))
    layer.forward(x)
    dx = layer.backward(dy)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(xt, 2).backward(torch.from_numpy(dy))
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("channels", [3, 30, 64, 65, 96])
def test_max_pool_keeps_gathered_windows_only_when_backward_will_use_them(channels):
    """Training (and few channels always) keeps the gathered window elements instead of the input;
    eval mode with many channels keeps the input. Either way backward gives the same gradient."""
    from convnp.fast import planner, pooling

    x = np.random.default_rng(1).standard_normal((2, channels, 4, 6))
    dy = np.random.default_rng(2).standard_normal((2, channels, 2, 3))
    grads = []
    for for_backward in (True, False):
        y, cache = pooling.max_pool2d_forward(x, 2, for_backward=for_backward)
        gathered = channels < (pooling.TRAINING_GATHER_CHANNELS if for_backward else pooling.GATHER_CHANNELS)
        assert (cache.windows is not None) == gathered and (cache.padded is None) == gathered
        grads.append(pooling.max_pool2d_backward(dy, cache))
    for training, threshold in ((True, pooling.TRAINING_GATHER_CHANNELS), (False, pooling.GATHER_CHANNELS)):
        step = planner.plan([cn.MaxPool2d(2)], training).steps[0][1]  # the engine's plan of a model
        step.forward(x)
        assert (step.cache.windows is not None) == (channels < threshold)
    np.testing.assert_array_equal(grads[0], grads[1])
    np.testing.assert_array_equal(grads[0], cn.functional.pool2d_backward_naive(dy, x, 2, mode="max"))
