"""BatchNorm1d/2d against torch.nn.BatchNorm1d/2d in float64 (train and eval mode), gradcheck,
running statistics, state_dict buffers and clear errors."""

import re

import numpy as np
import pytest
import torch

import convnp as cn
from convnp.functional import normalization as N

KINDS = {  # id -> (convnp class, torch class, shape maker)
    "1d-NC": (cn.BatchNorm1d, torch.nn.BatchNorm1d, lambda rng, c: (int(rng.integers(2, 9)), c)),
    "1d-NCL": (cn.BatchNorm1d, torch.nn.BatchNorm1d,
               lambda rng, c: (int(rng.integers(1, 6)), c, int(rng.integers(1, 8)))),
    "2d": (cn.BatchNorm2d, torch.nn.BatchNorm2d,
           lambda rng, c: (int(rng.integers(1, 5)), c, *(int(v) for v in rng.integers(1, 8, size=2)))),
}


def to_torch_state(state):
    return {key: torch.from_numpy(np.array(value)) for key, value in state.items()}


def from_torch_state(module):
    return {key: value.detach().numpy().copy() for key, value in module.state_dict().items()}


def random_pair(kind, seed):
    """A convnp BatchNorm with random eps/momentum/weights/running stats and its torch twin."""
    rng = np.random.default_rng(seed)
    ours, theirs, shape_of = KINDS[kind]
    channels = int(rng.integers(1, 6))
    eps = float(10 ** rng.uniform(-5, -1))
    momentum = [0.1, float(rng.uniform(0, 1)), None, 1.0][int(rng.integers(4))]
    layer = ours(channels, eps=eps, momentum=momentum, dtype=np.float64)
    layer.weight.data[...] = rng.standard_normal(channels)
    layer.bias.data[...] = rng.standard_normal(channels)
    layer.running_mean[...] = rng.standard_normal(channels)
    layer.running_var[...] = rng.uniform(0.2, 3, channels)
    layer.num_batches_tracked[...] = int(rng.integers(0, 4))
    module = theirs(channels, eps=eps, momentum=momentum, dtype=torch.float64)
    module.load_state_dict(to_torch_state(layer.state_dict()))
    while True:  # training needs more than one value per channel
        shape = shape_of(rng, channels)
        if np.prod(shape) // channels > 1:
            return layer, module, shape, rng


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("seed", range(30))
def test_matches_torch(kind, seed, mode, torch_check, close):
    layer, module, shape, rng = random_pair(kind, seed)
    layer.train(mode == "train")
    module.train(mode == "train")
    for step in range(3):  # several forwards: running statistics must follow torch's
        x = rng.standard_normal(shape) * rng.uniform(0.5, 3) + rng.uniform(-2, 2)
        module.zero_grad()  # torch accumulates gradients; convnp's backward overwrites them
        torch_check(layer, module, x, rng, config=f"{mode} step {step}")
    expected = from_torch_state(module)
    assert set(layer.state_dict()) == set(expected) == {
        "weight", "bias", "running_mean", "running_var", "num_batches_tracked"}
    for name in ("running_mean", "running_var"):
        close(getattr(layer, name), expected[name], f"{name} of {layer!r} after 3 {mode} forwards")
    assert layer.num_batches_tracked.dtype == np.int64 and layer.num_batches_tracked.shape == ()
    assert int(layer.num_batches_tracked) == int(expected["num_batches_tracked"])


def test_running_stats_formula_by_hand():
    rng = np.random.default_rng(0)
    layer = cn.BatchNorm2d(3, momentum=0.25, dtype=np.float64)
    x = rng.standard_normal((4, 3, 5, 2))
    layer(x)
    mean = x.mean(axis=(0, 2, 3))
    unbiased = x.var(axis=(0, 2, 3), ddof=1)
    np.testing.assert_allclose(layer.running_mean, 0.25 * mean, rtol=1e-13)
    np.testing.assert_allclose(layer.running_var, 0.75 + 0.25 * unbiased, rtol=1e-13)
    assert int(layer.num_batches_tracked) == 1
    layer.eval()
    layer(x)  # evaluation leaves the buffers alone
    assert int(layer.num_batches_tracked) == 1
    np.testing.assert_allclose(layer.running_mean, 0.25 * mean, rtol=1e-13)


def test_fast_equals_naive_forward():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 4, 5, 6))
    weight, bias = rng.standard_normal(4), rng.standard_normal(4)
    y, _, _, _ = N.batch_norm_train_forward(x, weight, bias, 1e-3)
    np.testing.assert_allclose(y, N.batch_norm_naive(x, weight, bias, 1e-3), atol=1e-12)


GRADCHECK_CASES = {
    "1d-NC": (lambda dt: cn.BatchNorm1d(3, dtype=dt), (5, 3)),
    "1d-NCL": (lambda dt: cn.BatchNorm1d(2, eps=1e-3, dtype=dt), (3, 2, 4)),
    "2d": (lambda dt: cn.BatchNorm2d(2, momentum=0.3, dtype=dt), (2, 2, 3, 3)),
}


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("case", GRADCHECK_CASES)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradcheck(case, mode, dtype):
    factory, shape = GRADCHECK_CASES[case]
    layer = factory(dtype)
    rng = np.random.default_rng(3)
    layer.weight.data[...] = rng.uniform(0.5, 2, layer.num_features)
    layer.bias.data[...] = rng.standard_normal(layer.num_features)
    layer.running_mean[...] = rng.standard_normal(layer.num_features)
    layer.running_var[...] = rng.uniform(0.5, 2, layer.num_features)
    layer.train(mode == "train")
    assert cn.gradcheck(layer, rng.standard_normal(shape)) is True
    assert layer.weight.dtype == layer.weight.grad.dtype == dtype


@pytest.mark.parametrize("engine", ["reference", "fast"])
def test_gradcheck_catches_a_wrong_training_gradient(monkeypatch, engine):
    """The training backward must go through the batch statistics: the affine-only formula is wrong."""
    def affine_only(dy, cache, weight):
        centred_or_x_hat, inv_std = cache  # the engine keeps x - mean, the textbook x_hat
        x_hat = centred_or_x_hat * (inv_std if engine == "fast" else 1)
        return dy * weight * inv_std, np.sum(dy * x_hat, axis=0), dy.sum(axis=0)

    monkeypatch.setattr(cn.engines.ops(engine), "batch_norm_train_backward", affine_only)
    with cn.engine(engine), pytest.raises(cn.GradcheckError):
        cn.gradcheck(cn.BatchNorm1d(3), np.random.default_rng(0).standard_normal((4, 3)))


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_float32_stays_float32(mode):
    layer = cn.BatchNorm2d(4).train(mode == "train")
    x = np.random.default_rng(0).standard_normal((3, 4, 5, 5)).astype(np.float32)
    y = layer(x)
    dx = layer.backward(np.ones_like(y))
    assert y.dtype == dx.dtype == np.float32
    assert layer.weight.grad.dtype == layer.bias.grad.dtype == np.float32
    assert layer.running_mean.dtype == layer.running_var.dtype == np.float32


def test_defaults_and_buffers():
    layer = cn.BatchNorm1d(3)
    np.testing.assert_array_equal(layer.weight.data, np.ones(3, np.float32))
    np.testing.assert_array_equal(layer.bias.data, np.zeros(3, np.float32))
    np.testing.assert_array_equal(layer.running_mean, np.zeros(3))
    np.testing.assert_array_equal(layer.running_var, np.ones(3))
    assert [p.name for p in layer.parameters()] == ["weight", "bias"]
    assert list(layer.named_buffers()) == ["running_mean", "running_var", "num_batches_tracked"]
    assert (layer.eps, layer.momentum) == (1e-5, 0.1)


def test_load_state_dict_copies_into_buffers():
    layer = cn.BatchNorm2d(2)
    buffers = (layer.running_mean, layer.running_var, layer.num_batches_tracked)
    layer.load_state_dict({"weight": np.full(2, 2.0), "bias": np.full(2, -1.0),
                           "running_mean": np.array([0.5, 1.5]), "running_var": np.array([4.0, 9.0]),
                           "num_batches_tracked": np.array(7)})
    assert layer.running_mean is buffers[0] and layer.num_batches_tracked is buffers[2]  # in place
    np.testing.assert_array_equal(layer.running_var, [4.0, 9.0])
    assert int(layer.num_batches_tracked) == 7 and layer.num_batches_tracked.dtype == np.int64
    layer.eval()
    y = layer(np.full((1, 2, 1, 1), 2.5, dtype=np.float32))
    np.testing.assert_allclose(y.ravel(), [2 * 2 / np.sqrt(4 + 1e-5) - 1, 2 * 1 / np.sqrt(9 + 1e-5) - 1],
                               rtol=1e-6)


@pytest.mark.parametrize("layer, shape", [(lambda: cn.BatchNorm1d(4), (1, 4)),
                                          (lambda: cn.BatchNorm1d(4), (1, 4, 1)),
                                          (lambda: cn.BatchNorm2d(4), (1, 4, 1, 1))])
def test_one_value_per_channel_in_training_is_an_error(layer, shape):
    bn = layer()
    with pytest.raises(ValueError, match=r"BatchNorm\dd\(4\): expected more than 1 value per channel "
                                         r"when training"):
        bn(np.zeros(shape, dtype=np.float32))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel when training"):
        (torch.nn.BatchNorm1d(4) if len(shape) < 4 else torch.nn.BatchNorm2d(4))(torch.zeros(shape))
    assert int(bn.num_batches_tracked) == 0  # nothing was updated
    assert bn.eval()(np.zeros(shape, dtype=np.float32)).shape == shape  # fine in eval mode


@pytest.mark.parametrize("layer, shape, message", [
    (lambda: cn.BatchNorm2d(16), (2, 8, 4, 4), "BatchNorm2d(16): expected input of shape (N, 16, H, W), "
                                               "got (2, 8, 4, 4)"),
    (lambda: cn.BatchNorm2d(16), (2, 16, 4), "BatchNorm2d(16): expected input of shape (N, 16, H, W)"),
    (lambda: cn.BatchNorm1d(3), (2, 3, 4, 4), "BatchNorm1d(3): expected input of shape (N, 3) or (N, 3, L)"),
    (lambda: cn.BatchNorm1d(3), (2, 5), "BatchNorm1d(3): expected input of shape (N, 3) or (N, 3, L), "
                                        "got (2, 5)"),
])
def test_bad_shape_is_named(layer, shape, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        layer()(np.zeros(shape, dtype=np.float32))


def test_bad_dtype_and_arguments():
    with pytest.raises(TypeError, match=r"BatchNorm2d\(2\): expected a floating-point array"):
        cn.BatchNorm2d(2)(np.zeros((2, 2, 3, 3), dtype=np.int64))
    with pytest.raises(TypeError, match=r"BatchNorm2d\(2\): expected float32 input"):
        cn.BatchNorm2d(2)(np.zeros((2, 2, 3, 3)))
    with pytest.raises(ValueError, match="BatchNorm1d: num_features"):
        cn.BatchNorm1d(0)
    with pytest.raises(ValueError, match="BatchNorm2d: eps"):
        cn.BatchNorm2d(3, eps=0)
    with pytest.raises(ValueError, match="BatchNorm2d: momentum"):
        cn.BatchNorm2d(3, momentum=1.5)


def test_backward_errors():
    layer = cn.BatchNorm2d(2)
    with pytest.raises(RuntimeError, match=r"BatchNorm2d\(2\): backward\(\) called before forward"):
        layer.backward(np.zeros((2, 2, 3, 3), dtype=np.float32))
    layer(np.zeros((2, 2, 3, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(2\): backward expected dy of shape \(2, 2, 3, 3\)"):
        layer.backward(np.zeros((2, 2, 3), dtype=np.float32))


def test_repr_and_config_round_trip():
    layer = cn.BatchNorm1d(8, eps=1e-3, momentum=None, dtype=np.float64)
    assert repr(layer) == "BatchNorm1d(8, eps=0.001, momentum=None)"
    assert repr(cn.BatchNorm2d(16)) == "BatchNorm2d(16)"
    rebuilt = cn.BatchNorm1d(**layer.config())
    assert (rebuilt.eps, rebuilt.momentum, rebuilt.weight.dtype) == (1e-3, None, np.float64)
