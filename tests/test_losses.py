"""Losses against torch.nn (float64, 1e-10): values, gradients and the errors users see."""

import warnings

import numpy as np
import pytest
import torch

import convnp as cn

TOLERANCE = 1e-10
SMOOTHINGS = [0.0, 0.1, 0.5]


def _random_shapes(count, seed):
    rng = np.random.default_rng(seed)
    return [(int(rng.integers(1, 21)), int(rng.integers(2, 13))) for _ in range(count)]


def _torch_value_and_grad(torch_loss, output, target):
    """torch's loss value and d loss / d output for NumPy ``output`` and ``target``."""
    output_t = torch.tensor(output, requires_grad=True)
    value = torch_loss(output_t, torch.from_numpy(target))
    value.backward()
    return value.item(), output_t.grad.numpy()


def _probabilities(rng, n, k):
    raw = rng.random((n, k))
    return raw / raw.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
@pytest.mark.parametrize("shape", _random_shapes(12, seed=0), ids=str)
def test_cross_entropy_with_labels_matches_torch(shape, smoothing):
    n, k = shape
    rng = np.random.default_rng(n * 100 + k)
    logits = rng.standard_normal((n, k)) * 3
    labels = rng.integers(0, k, size=n)
    loss = cn.CrossEntropyLoss(label_smoothing=smoothing)
    value = loss(logits, labels)
    grad = loss.backward()
    expected_value, expected_grad = _torch_value_and_grad(
        torch.nn.CrossEntropyLoss(label_smoothing=smoothing), logits, labels)
    assert type(value) is float
    assert value == pytest.approx(expected_value, abs=TOLERANCE, rel=TOLERANCE)
    assert grad.shape == logits.shape and grad.dtype == np.float64
    np.testing.assert_allclose(grad, expected_grad, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
@pytest.mark.parametrize("shape", _random_shapes(12, seed=1), ids=str)
def test_cross_entropy_with_probabilities_matches_torch(shape, smoothing):
    n, k = shape
    rng = np.random.default_rng(n * 100 + k + 1)
    logits = rng.standard_normal((n, k)) * 3
    target = _probabilities(rng, n, k)
    loss = cn.CrossEntropyLoss(label_smoothing=smoothing)
    value = loss(logits, target)
    grad = loss.backward()
    expected_value, expected_grad = _torch_value_and_grad(
        torch.nn.CrossEntropyLoss(label_smoothing=smoothing), logits, target)
    assert type(value) is float
    assert value == pytest.approx(expected_value, abs=TOLERANCE, rel=TOLERANCE)
    np.testing.assert_allclose(grad, expected_grad, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
def test_cross_entropy_gradient_is_softmax_minus_target_over_n(smoothing):
    rng = np.random.default_rng(5)
    n, k = 7, 4
    logits = rng.standard_normal((n, k))
    labels = rng.integers(0, k, size=n)
    loss = cn.CrossEntropyLoss(label_smoothing=smoothing)
    loss(logits, labels)
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    target = np.eye(k)[labels] * (1 - smoothing) + smoothing / k
    np.testing.assert_allclose(loss.backward(), (softmax - target) / n, rtol=0, atol=1e-15)


@pytest.mark.parametrize("smoothing", SMOOTHINGS)
@pytest.mark.parametrize("targets", ["labels", "probabilities"])
def test_cross_entropy_is_finite_for_huge_logits(targets, smoothing):
    rng = np.random.default_rng(2)
    n, k = 6, 5
    logits = rng.choice([-1e4, 1e4], size=(n, k)) + rng.standard_normal((n, k))
    target = rng.integers(0, k, size=n) if targets == "labels" else _probabilities(rng, n, k)
    loss = cn.CrossEntropyLoss(label_smoothing=smoothing)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning fails the test
        value = loss(logits, target)
        grad = loss.backward()
    expected_value, expected_grad = _torch_value_and_grad(
        torch.nn.CrossEntropyLoss(label_smoothing=smoothing), logits, target)
    assert np.isfinite(value) and np.isfinite(grad).all()
    assert value == pytest.approx(expected_value, rel=TOLERANCE, abs=TOLERANCE)
    np.testing.assert_allclose(grad, expected_grad, rtol=0, atol=TOLERANCE)


@pytest.mark.parametrize("shape", [(1,), (5, 3), (4, 2, 3, 3)], ids=str)
def test_mse_matches_torch(shape):
    rng = np.random.default_rng(len(shape))
    output, target = rng.standard_normal(shape), rng.standard_normal(shape)
    loss = cn.MSELoss()
    value = loss(output, target)
    grad = loss.backward()
    expected_value, expected_grad = _torch_value_and_grad(torch.nn.MSELoss(), output, target)
    assert type(value) is float
    assert value == pytest.approx(expected_value, rel=TOLERANCE, abs=TOLERANCE)
    np.testing.assert_allclose(grad, expected_grad, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(grad, 2 * (output - target) / output.size, rtol=0, atol=1e-15)


def test_float32_loss_keeps_the_gradient_dtype():
    logits = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
    loss = cn.CrossEntropyLoss()
    assert type(loss(logits, np.array([0, 1, 2, 0]))) is float
    assert loss.backward().dtype == np.float32


def test_backward_uses_the_latest_forward():
    loss = cn.CrossEntropyLoss()
    loss(np.zeros((2, 3)), np.array([0, 1]))
    loss(np.zeros((5, 3)), np.array([0, 1, 2, 0, 1]))
    assert loss.backward().shape == (5, 3)


@pytest.mark.parametrize("loss", [cn.CrossEntropyLoss(), cn.MSELoss()], ids=repr)
def test_backward_before_forward_raises(loss):
    with pytest.raises(RuntimeError, match="before"):
        loss.backward()


@pytest.mark.parametrize("labels", [np.array([0, 3, 1]), np.array([-1, 0, 1])], ids=str)
def test_cross_entropy_rejects_labels_out_of_range(labels):
    with pytest.raises(ValueError, match=r"labels must be in \[0, 2\] for 3 classes"):
        cn.CrossEntropyLoss()(np.zeros((3, 3)), labels)


def test_cross_entropy_rejects_wrong_number_of_labels():
    with pytest.raises(ValueError, match="3 logits rows but 4 labels"):
        cn.CrossEntropyLoss()(np.zeros((3, 5)), np.array([0, 1, 2, 3]))


@pytest.mark.parametrize("target", [
    np.zeros((3, 4)),                 # probabilities with the wrong K
    np.zeros((3, 5), dtype=np.int64),  # integer 2-D target
    np.array([0.0, 1.0, 2.0]),        # float labels
    np.zeros((3, 5, 1)),
], ids=["wrong-K", "int-2d", "float-labels", "3d"])
def test_cross_entropy_rejects_wrong_target_shape(target):
    with pytest.raises(ValueError, match=r"target must be integer labels of shape \(3,\)"):
        cn.CrossEntropyLoss()(np.zeros((3, 5)), target)


def test_cross_entropy_rejects_int_logits():
    with pytest.raises(TypeError, match="floating-point"):
        cn.CrossEntropyLoss()(np.zeros((3, 5), dtype=np.int64), np.array([0, 1, 2]))


@pytest.mark.parametrize("logits", [np.zeros(3), np.zeros((2, 3, 4)), np.zeros((0, 3))],
                         ids=str)
def test_cross_entropy_rejects_logits_that_are_not_n_by_k(logits):
    with pytest.raises(ValueError, match=r"\(N, K\) logits"):
        cn.CrossEntropyLoss()(logits, np.array([0]))


def test_mse_rejects_int_output_and_shape_mismatch():
    with pytest.raises(TypeError, match="floating-point"):
        cn.MSELoss()(np.zeros((2, 3), dtype=np.int32), np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"target shape \(3, 2\) differs from output shape \(2, 3\)"):
        cn.MSELoss()(np.zeros((2, 3)), np.zeros((3, 2)))


@pytest.mark.parametrize("smoothing", [-0.1, 1.5])
def test_label_smoothing_must_be_a_probability(smoothing):
    with pytest.raises(ValueError, match="label_smoothing"):
        cn.CrossEntropyLoss(label_smoothing=smoothing)
