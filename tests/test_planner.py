"""The fast engine's plan runs a ReLU that feeds a MaxPool2d after the pool, and lets a Conv2d
or a MaxPool2d apply the ReLU that follows it: the same numbers as running the layers one at a
time in the order given, forward and backward, ties and NaN included."""

import numpy as np
import pytest

import convnp as cn
from convnp import fast
from convnp.fast.planner import ConvStep, execution_order, plan
from helpers import use_conv_route


def fused_relus(layers) -> dict[int, int]:
    """``{conv index: relu index}`` for each Conv2d the plan fuses with a ReLU."""
    return {index: layers.index(step.relu) for index, step in plan(layers).steps
            if isinstance(step, ConvStep) and step.relu is not None}


def test_a_relu_before_max_pools_moves_after_them():
    layers = [cn.Conv2d(1, 2, 3), cn.ReLU(), cn.MaxPool2d(2), cn.MaxPool2d(2, 1), cn.ReLU(), cn.Flatten()]
    assert execution_order(layers) == [0, 2, 3, 1, 4, 5]


@pytest.mark.parametrize("layers", [
    [cn.ReLU(), cn.AvgPool2d(2)],
    [cn.LeakyReLU(), cn.MaxPool2d(2)],  # slope * x may round two values onto one: ties would move
    [cn.Tanh(), cn.MaxPool2d(2)],  # saturates onto ties
    [cn.MaxPool2d(2), cn.ReLU()],
    [type("MyReLU", (cn.ReLU,), {})(), cn.MaxPool2d(2)],  # a subclass may do anything
])
def test_other_pairs_keep_their_order(layers):
    assert execution_order(layers) == [0, 1]


def _given_order(model, x, dy):
    """Forward and backward one layer at a time in the order given: (y, dx, parameter grads)."""
    for layer in model.layers:
        x = layer.forward(x)
    y = x
    for layer in reversed(model.layers):
        dy = layer.backward(dy)
    return y, dy, {name: p.grad.copy() for name, p in model.named_parameters().items()}


def _integer_conv_model(channels, pool, image_hw, rng):
    """Conv with small integer weights (exact sums: many exact ties, many zeros after ReLU)."""
    conv = cn.Conv2d(2, channels, 3, padding=1, dtype=np.float64, rng=rng)
    conv.weight.data[...] = rng.integers(-1, 2, conv.weight.shape)
    conv.bias.data[...] = rng.integers(-1, 2, conv.bias.shape)
    features = [conv, cn.ReLU(), pool, cn.MaxPool2d(2, 1)]
    flat = cn.Sequential(*features).forward(np.zeros((1, 2, *image_hw))).size
    return cn.Sequential(*features, cn.Flatten(), cn.Linear(flat, 3, dtype=np.float64, rng=rng))


@pytest.mark.parametrize("channels", [3, 20])  # both max-pool forward routes
@pytest.mark.parametrize("pool_args", [(2,), (3, 2, 1), ((2, 3), 1)])
@pytest.mark.parametrize("with_nan", [False, True])
def test_reordered_run_gives_the_same_outputs_and_gradients(channels, pool_args, with_nan):
    rng = np.random.default_rng(channels)
    x = rng.integers(-2, 3, (4, 2, 6, 7)).astype(np.float64)
    model = _integer_conv_model(channels, cn.MaxPool2d(*pool_args), x.shape[2:], rng)
    if with_nan:
        x[0, :, 2, 3] = np.nan
    y_fast = model.forward(x)
    steps = plan(model.layers).steps  # the ReLU runs after both pools, inside the second one's step
    assert [index for index, _ in steps] == [0, 2, 3, 4, 5] and steps[2][1].relu is model.layers[1]
    dy = rng.standard_normal(y_fast.shape)
    dx_fast = model.backward(dy)
    grads_fast = {name: p.grad.copy() for name, p in model.named_parameters().items()}
    y, dx, grads = _given_order(model, x, dy)
    np.testing.assert_array_equal(y_fast, y)  # NaN at the same places counts as equal
    np.testing.assert_array_equal(dx_fast, dx)
    for name, grad in grads.items():
        np.testing.assert_array_equal(grads_fast[name], grad, err_msg=name)
    assert np.isnan(y).any() == with_nan


@pytest.mark.parametrize("channels", [3, 70])  # gathered windows / strided views in training
@pytest.mark.parametrize("training", [True, False])
def test_a_max_pool_applies_the_relu_after_it_even_for_inf_and_nan(channels, training):
    """Conv -> ReLU -> MaxPool runs as a conv and a pool that applies the ReLU: the same outputs
    and gradients as the layers one at a time, with zeros, ties, a NaN input and an inf, -inf
    and NaN gradient (the ReLU's rule: nothing passes where its output is 0)."""
    rng = np.random.default_rng(channels)
    model = _integer_conv_model(channels, cn.MaxPool2d(2), (6, 8), rng)
    model = cn.Sequential(*model.layers[:3]).train(training)  # conv, ReLU, pool
    x = rng.integers(-2, 3, (3, 2, 6, 8)).astype(np.float64)
    x[1, :, 2, 3] = np.nan
    steps = plan(model.layers, training).steps
    assert [index for index, _ in steps] == [0, 2] and steps[1][1].relu is model.layers[1]
    y_fast = model.forward(x)
    dy = rng.standard_normal(y_fast.shape)
    dy[0, 0, 0, :3] = np.inf, -np.inf, np.nan
    zero = np.argwhere(y_fast == 0)[0]
    dy[tuple(zero)] = np.inf  # where the ReLU stopped: must give nothing
    dx_fast = model.backward(dy)
    grads_fast = {name: p.grad.copy() for name, p in model.named_parameters().items()}
    y, dx, grads = _given_order(model, x, dy)
    np.testing.assert_array_equal(y_fast, y)
    np.testing.assert_array_equal(dx_fast, dx)
    for name, grad in grads.items():
        np.testing.assert_array_equal(grads_fast[name], grad, err_msg=name)
    conv, relu, pool = model.layers  # the pool step's own gradient, before the conv mixes it
    pooled = steps[1][1].forward(conv.forward(x))
    grad_fast = steps[1][1].backward(dy)
    grad = relu.backward(pool.backward(dy))  # the layers' caches from _given_order's forward
    np.testing.assert_array_equal(pooled, y)
    np.testing.assert_array_equal(grad_fast, grad)
    assert np.isinf(grad).sum() == 2 and np.isnan(grad).sum() >= 1


def test_a_residual_branch_runs_in_the_same_order_forward_and_backward():
    rng = np.random.default_rng(0)
    relu, pool = cn.ReLU(), cn.MaxPool2d(3, 1, 1)  # k=3 s=1 p=1 keeps the shape: identity shortcut
    block = cn.Residual(relu, pool)
    x = rng.integers(-2, 3, (2, 3, 5, 6)).astype(np.float64)
    y_fast = block.forward(x)
    dy = rng.standard_normal(y_fast.shape)
    dx_fast = block.backward(dy)
    y = pool.forward(relu.forward(x)) + x  # the order given
    dx = relu.backward(pool.backward(dy)) + dy
    np.testing.assert_array_equal(y_fast, y)
    np.testing.assert_array_equal(dx_fast, dx)


def test_a_conv_applies_the_relu_right_after_it_only():
    my_relu, my_conv = type("MyReLU", (cn.ReLU,), {})(), type("MyConv", (cn.Conv2d,), {})(2, 2, 3)
    layers = [cn.Conv2d(1, 2, 3), cn.ReLU(), cn.Conv2d(2, 2, 3), cn.ReLU(), cn.MaxPool2d(2),
              cn.Conv2d(2, 2, 3), cn.LeakyReLU(), cn.Conv2d(2, 2, 3), my_relu, my_conv, cn.ReLU()]
    assert fused_relus(layers) == {0: 1}  # the second ReLU runs after its pool: nothing to fuse


@pytest.mark.parametrize("route, channels", [("windows", 2), ("windows", 5), ("band-narrow", 2)],
                         ids=["transposed", "channels-last", "bands"])
@pytest.mark.parametrize("chunked", [False, True])
@pytest.mark.parametrize("with_nan", [False, True])
def test_fused_conv_relu_gives_the_same_outputs_and_gradients(route, channels, chunked, with_nan,
                                                               routes, monkeypatch):
    # chunked: one image per window-matrix chunk, so the ReLU runs piece by piece
    use_conv_route(routes, route, chunk_bytes=1 if chunked else None)
    rng = np.random.default_rng(channels)
    x = rng.standard_normal((3, channels, 6, 7))
    if with_nan:
        x[1, 0, 2, 3] = np.nan
    model = cn.Sequential(cn.Conv2d(channels, 4, 3, padding=1, dtype=np.float64, rng=rng), cn.ReLU(),
                          cn.Flatten(), cn.Linear(4 * 6 * 7, 3, dtype=np.float64, rng=rng))
    separate_relus, relu = [], fast.relu
    monkeypatch.setattr(fast, "relu", lambda a: separate_relus.append(a) or relu(a))
    y_fast = model.forward(x)
    assert separate_relus == []  # the conv applied it
    dy = rng.standard_normal(y_fast.shape)
    dx_fast = model.backward(dy)
    grads_fast = {name: p.grad.copy() for name, p in model.named_parameters().items()}
    y, dx, grads = _given_order(model, x, dy)
    assert len(separate_relus) == 1
    np.testing.assert_array_equal(y_fast, y)
    np.testing.assert_array_equal(dx_fast, dx)
    for name, grad in grads.items():
        np.testing.assert_array_equal(grads_fast[name], grad, err_msg=name)
    assert np.isnan(y).any() == with_nan


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (1, "same")])
def test_conv2d_forward_with_relu_is_relu_of_the_convolution(stride, padding):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 9, 8)).astype(np.float32)
    weight = rng.standard_normal((5, 6, 3, 3)).astype(np.float32)
    bias = rng.standard_normal(5).astype(np.float32)
    y_fused, _ = fast.conv2d_forward(x, weight, bias, stride, padding, relu=True)
    y, _ = fast.conv2d_forward(x, weight, bias, stride, padding)
    np.testing.assert_array_equal(y_fused, fast.relu(y))


def test_a_fused_step_checks_its_input_and_gradient_like_the_layers():
    model = cn.Sequential(cn.Conv2d(1, 2, 3), cn.ReLU())
    with pytest.raises(TypeError, match=r"layer 0 Conv2d\(1→2, k=3\): expected a NumPy array"):
        model.forward([1.0, -1.0])
    with pytest.raises(RuntimeError, match="backward\\(\\) called before forward"):
        model.backward(np.ones((1, 2, 3, 3), np.float32))
    y = model.forward(np.ones((1, 1, 5, 5), np.float32))
    with pytest.raises(ValueError, match=r"backward expected dy of shape \(1, 2, 3, 3\)"):
        model.backward(np.ones((1, 2, 3, 4), np.float32))
    assert y.shape == (1, 2, 3, 3)


def _assert_plan_matches_layers(model, x, rng):
    """The model's plan and its layers run one at a time: equal outputs, dx and parameter
    gradients (float64, up to rounding). Returns the gradients."""
    y_fast = model.forward(x)
    dy = rng.standard_normal(y_fast.shape)
    dx_fast = model.backward(dy)
    grads_fast = {name: p.grad.copy() for name, p in model.named_parameters().items()}
    y, dx, grads = _given_order(model, x, dy)
    np.testing.assert_allclose(y_fast, y, rtol=0, atol=1e-12)
    np.testing.assert_allclose(dx_fast, dx, rtol=0, atol=1e-12)
    assert set(grads) == set(grads_fast)
    for name, grad in grads.items():
        np.testing.assert_allclose(grads_fast[name], grad, rtol=0, atol=1e-10, err_msg=name)
    return grads


def _conv_bn_relu(rng, bias, stride, relu=True, gamma_zero=False):
    conv = cn.Conv2d(3, 4, 3, stride=stride, padding=1, bias=bias, dtype=np.float64, rng=rng)
    norm = cn.BatchNorm2d(4, dtype=np.float64)
    norm.weight.data[...] = rng.standard_normal(4)
    norm.weight.data[0] = 0.0 if gamma_zero else norm.weight.data[0]
    norm.bias.data[...] = rng.standard_normal(4)
    norm.running_mean[...] = rng.standard_normal(4)
    norm.running_var[...] = rng.uniform(0.2, 3, 4)
    return cn.Sequential(conv, norm, *([cn.ReLU()] if relu else []), cn.Flatten()).eval()


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("relu", [True, False])
@pytest.mark.parametrize("gamma_zero", [False, True])
def test_an_eval_batchnorm_folds_into_the_conv_before_it(bias, stride, relu, gamma_zero):
    """Conv2d → BatchNorm2d (eval) [→ ReLU] is one step; outputs, dx and every parameter's gradient
    (the BatchNorm's gamma and beta included) equal the layers run one at a time (float64)."""
    rng = np.random.default_rng(stride + 2 * bias)
    model = _conv_bn_relu(rng, bias, stride, relu, gamma_zero)
    steps = plan(model.layers, training=False).steps
    assert [type(step).__name__ for _, step in steps] == ["ConvStep", "LayerStep"]
    assert steps[0][1].norm is model[1] and (steps[0][1].relu is model[2]) == relu
    grads = _assert_plan_matches_layers(model, rng.standard_normal((3, 3, 7, 6)), rng)
    assert "1.weight" in grads
    assert np.all(model[1].running_mean == model[1].running_mean)  # eval: statistics untouched


@pytest.mark.parametrize("layers, why", [
    (lambda: [cn.Conv2d(3, 4, 3), cn.BatchNorm2d(4)], "training mode: batch statistics"),
    (lambda: [cn.Conv2d(3, 4, 3), cn.BatchNorm2d(4).eval(), cn.BatchNorm2d(4).eval()], "the first only"),
    (lambda: [cn.Conv2d(3, 4, 3), cn.BatchNorm2d(4, dtype=np.float64).eval()], "dtypes differ"),
    (lambda: [cn.Conv2d(3, 4, 3), cn.ReLU(), cn.BatchNorm2d(4).eval()], "not right after the conv"),
], ids=["train-mode", "two-norms", "dtypes", "after-relu"])
def test_a_batchnorm_folds_only_when_it_is_an_eval_affine_map_right_after_the_conv(layers, why):
    layers = layers()
    conv_step = plan(layers, training=False).steps[0][1]
    expected = layers[1] if why == "the first only" else None
    assert conv_step.norm is expected, why


def test_a_mismatched_batchnorm_after_a_conv_still_reports_its_own_error():
    model = cn.Sequential(cn.Conv2d(1, 2, 3), cn.BatchNorm2d(3)).eval()
    with pytest.raises(ValueError, match=r"layer 1 BatchNorm2d\(3\): expected input of shape \(N, 3, H, W\)"):
        model.forward(np.ones((1, 1, 5, 5), np.float32))


@pytest.mark.parametrize("shortcut", [None, "conv", "chain"])
@pytest.mark.parametrize("training", [True, False])
def test_a_residual_block_and_the_relu_after_it_are_one_step(shortcut, training):
    rng, wide = np.random.default_rng(7), np.float64
    projection = {None: None, "conv": cn.Conv2d(3, 3, 1, dtype=wide, rng=rng),
                  "chain": [cn.Conv2d(3, 3, 1, dtype=wide, rng=rng), cn.BatchNorm2d(3, dtype=wide)]}
    block = cn.Residual(cn.Conv2d(3, 3, 3, padding=1, dtype=wide, rng=rng), cn.BatchNorm2d(3, dtype=wide),
                        cn.ReLU(), cn.Conv2d(3, 3, 3, padding=1, dtype=wide, rng=rng),
                        shortcut=projection[shortcut])
    model = cn.Sequential(block, cn.ReLU(), cn.Flatten()).train(training)
    steps = plan(model.layers, training).steps
    assert [type(step).__name__ for _, step in steps] == ["ResidualStep", "LayerStep"]
    _assert_plan_matches_layers(model, rng.standard_normal((2, 3, 5, 4)), rng)


def test_a_residual_step_leaves_the_callers_gradient_alone():
    """A branch of one Flatten hands back a view of dy: adding the shortcut must not write into it."""
    model = cn.Sequential(cn.Flatten(), cn.Residual(cn.Flatten()))
    x = np.arange(6.0).reshape(2, 3)
    model.forward(x)
    dy = np.ones((2, 3))
    np.testing.assert_array_equal(model.backward(dy), 2 * np.ones((2, 3)))
    np.testing.assert_array_equal(dy, np.ones((2, 3)))


def test_an_error_in_a_residual_branch_names_the_block_and_the_layer():
    model = cn.Sequential(cn.Residual(cn.Conv2d(2, 2, 3, padding=1), cn.BatchNorm2d(3)))
    expected = r"^layer 0 Residual\(2 layers\): layers\.1 BatchNorm2d\(3\): "
    for engine in ("fast", "reference"):
        with cn.engine(engine), pytest.raises(ValueError, match=expected):
            model.forward(np.ones((1, 2, 4, 4), np.float32))
