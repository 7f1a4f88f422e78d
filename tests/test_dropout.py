"""Dropout: inverted-dropout statistics, the forward mask reused by backward, seeded masks,
identity in eval mode, torch's formula given the same mask, gradcheck and errors."""

import re

import numpy as np
import pytest
import torch

import convnp as cn


class SeededDropout(cn.Dropout):
    """Dropout that redraws the *same* mask on every forward (for finite differences)."""

    def __init__(self, p, seed):
        super().__init__(p, rng=seed)
        self.seed = seed

    def forward(self, x):
        self.rng = np.random.default_rng(self.seed)
        return super().forward(x)


def expected_mask(seed, shape, p, dtype=np.float64):
    """The 0-or-1/(1-p) mask a Dropout seeded with ``seed`` draws first for ``shape``."""
    kept = np.random.default_rng(seed).random(shape, dtype=dtype) < 1 - p
    return kept, kept / (1 - p)


@pytest.mark.parametrize("seed", range(30))
def test_train_mode_matches_torch_formula_with_the_same_mask(seed, close):
    """torch's dropout is ``x * bernoulli(1 - p) / (1 - p)``; given our mask, y and dx agree."""
    rng = np.random.default_rng(100 + seed)
    shape = tuple(int(v) for v in rng.integers(1, 7, size=int(rng.integers(2, 5))))
    p = float(rng.choice([0.0, 0.1, 0.5, 0.8, rng.uniform(0, 0.99)]))
    layer = cn.Dropout(p, rng=seed)
    x, dy = rng.standard_normal(shape), rng.standard_normal(shape)
    y = layer(x)
    dx = layer.backward(dy)
    kept, _ = expected_mask(seed, shape, p)
    x_torch = torch.from_numpy(x).requires_grad_(True)
    y_torch = x_torch * torch.from_numpy(kept) / (1 - p)
    y_torch.backward(torch.from_numpy(dy))
    close(y, y_torch, f"forward of Dropout(p={p}) x{shape}")
    close(dx, x_torch.grad, f"input gradient of Dropout(p={p}) x{shape}")


@pytest.mark.parametrize("seed", range(30))
def test_eval_mode_is_identity_like_torch(seed, torch_check):
    rng = np.random.default_rng(seed)
    shape = tuple(int(v) for v in rng.integers(1, 7, size=int(rng.integers(2, 5))))
    p = float(rng.uniform(0, 1))
    layer = cn.Dropout(p, rng=seed).eval()
    torch_check(layer, torch.nn.Dropout(p).eval(), rng.standard_normal(shape), rng, config="eval")


@pytest.mark.parametrize("p", [0.1, 0.5, 0.75])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_statistics_fraction_kept_and_scale(p, dtype):
    layer = cn.Dropout(p, rng=0)
    x = np.ones((400, 500), dtype=dtype)
    y = layer(x)
    assert y.dtype == dtype and y.shape == x.shape
    kept = y != 0
    assert abs(kept.mean() - (1 - p)) < 0.005, kept.mean()
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    assert abs(y.mean() - 1.0) < 0.02  # inverted dropout keeps the expectation


def test_backward_uses_the_forward_mask():
    rng = np.random.default_rng(0)
    layer = cn.Dropout(0.4, rng=1)
    x = rng.uniform(0.5, 2.0, (6, 7, 8))  # no zeros: y / x recovers the mask
    y = layer(x)
    dy = rng.standard_normal(x.shape)
    np.testing.assert_allclose(layer.backward(dy), dy * (y / x), rtol=1e-14)
    np.testing.assert_allclose(layer.backward(dy), dy * expected_mask(1, x.shape, 0.4)[1], rtol=1e-14)


def test_same_seed_same_mask_and_successive_masks_differ():
    x = np.ones((50, 60))
    a, b, c = cn.Dropout(0.5, rng=3), cn.Dropout(0.5, rng=3), cn.Dropout(0.5, rng=4)
    first = a(x)
    np.testing.assert_array_equal(first, b(x))
    assert not np.array_equal(first, c(x))
    assert not np.array_equal(first, a(x))  # the generator advances
    generator = np.random.default_rng(9)
    assert cn.Dropout(rng=generator).rng is generator


def test_eval_mode_is_identity_and_does_not_draw():
    layer = cn.Dropout(0.9, rng=0).eval()
    state = dict(layer.rng.bit_generator.state)
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    y = layer(x)
    np.testing.assert_array_equal(y, x)
    assert y is not x and y.dtype == np.float32
    dy = np.ones_like(x)
    np.testing.assert_array_equal(layer.backward(dy), dy)
    assert layer.rng.bit_generator.state == state
    layer.train()
    assert not np.array_equal(layer(x), x)


def test_p_zero_is_identity_and_p_one_zeroes_everything_like_torch():
    x = np.random.default_rng(0).standard_normal((4, 5))
    np.testing.assert_array_equal(cn.Dropout(0.0, rng=0)(x), x)
    layer = cn.Dropout(1.0, rng=0)
    y = layer(x)
    np.testing.assert_array_equal(y, np.zeros_like(x))
    np.testing.assert_array_equal(layer.backward(np.ones_like(x)), np.zeros_like(x))
    assert not np.isnan(y).any()
    assert torch.count_nonzero(torch.nn.Dropout(1.0)(torch.from_numpy(x))) == 0


@pytest.mark.parametrize("mode", ["train", "eval"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gradcheck(mode, dtype):
    layer = SeededDropout(0.3, seed=5).train(mode == "train")
    x = np.random.default_rng(0).standard_normal((3, 4, 5)).astype(dtype)
    assert cn.gradcheck(layer, x) is True


def test_gradcheck_needs_the_fixed_mask():
    """Sanity check of the helper: with a fresh mask per forward the finite differences disagree."""
    with pytest.raises(cn.GradcheckError):
        cn.gradcheck(cn.Dropout(0.5, rng=0), np.random.default_rng(0).standard_normal((3, 4)))


@pytest.mark.parametrize("p", [-0.1, 1.5, "0.5", None, True, float("nan")])
def test_bad_p(p):
    with pytest.raises(ValueError, match="Dropout: p must be a probability in"):
        cn.Dropout(p)


def test_errors_name_the_layer():
    layer = cn.Dropout(0.5)
    with pytest.raises(RuntimeError, match=re.escape("Dropout(p=0.5): backward() called before forward()")):
        layer.backward(np.zeros((2, 3)))
    with pytest.raises(TypeError, match=re.escape("Dropout(p=0.5): expected a floating-point array")):
        layer(np.zeros((2, 3), dtype=np.int64))
    with pytest.raises(TypeError, match=re.escape("Dropout(p=0.5): expected a NumPy array")):
        layer([[1.0, 2.0]])
    layer(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=re.escape("Dropout(p=0.5): backward expected dy of shape (2, 3)")):
        layer.backward(np.zeros((3, 2)))


def test_repr_and_config():
    assert repr(cn.Dropout()) == "Dropout(p=0.5)"
    assert repr(cn.Dropout(0.25)) == "Dropout(p=0.25)"
    assert cn.Dropout(0.25).config() == {"p": 0.25}
    assert cn.Dropout(0.3).parameters() == []
