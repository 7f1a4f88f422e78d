"""cn.interop.to_torch builds a torch.nn twin with the same weights and the same function."""

import numpy as np
import pytest
import torch

import convnp as cn
from convnp.interop import to_torch

NETS = [("seed000", (1, 28, 28)), ("seed002", (1, 28, 28)), ("simple-cnn", (1, 28, 28)),
        ("lenet5", (1, 28, 28)), ("cifar-small", (3, 32, 32)), ("deep-cnn", (1, 28, 28)),
        ("cifar-resnet", (3, 32, 32))]


@pytest.mark.parametrize("name, shape", NETS)
def test_twin_has_the_same_keys_outputs_and_gradients(name, shape):
    model = cn.models.build(name, shape, 10, rng=0)
    model.eval()  # Dropout and batch statistics make train mode random / batch-dependent
    twin = to_torch(model)
    assert not twin.training
    assert set(twin.state_dict()) == set(model.state_dict())
    x = np.random.default_rng(1).random((3, *shape), dtype=np.float32)
    xt = torch.from_numpy(x).requires_grad_()
    out = twin(xt)
    np.testing.assert_allclose(model.forward(x), out.detach().numpy(), rtol=1e-4, atol=1e-5)
    dy = np.random.default_rng(2).standard_normal(out.shape).astype(np.float32)
    out.backward(torch.from_numpy(dy))
    np.testing.assert_allclose(model.backward(dy), xt.grad.numpy(), rtol=1e-3, atol=1e-5)


def test_every_layer_type_has_a_twin():
    layers = [cn.Conv2d(2, 3, 3, padding="same"), cn.BatchNorm2d(3), cn.LeakyReLU(0.2), cn.ELU(0.5),
              cn.Softplus(2.0, 10.0), cn.AvgPool2d(2), cn.MaxPool2d(2, 1, 1), cn.Dropout(0.1),
              cn.Residual(cn.Conv2d(3, 3, 1), cn.Tanh()), cn.GlobalAvgPool2d(), cn.BatchNorm1d(3),
              cn.Sigmoid(), cn.SELU(), cn.Linear(3, 4), cn.Softmax(dim=1)]
    model = cn.Sequential(*layers).eval()
    x = np.random.default_rng(0).random((2, 2, 6, 6), dtype=np.float32)
    np.testing.assert_allclose(model.forward(x), to_torch(model)(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-4, atol=1e-6)


def test_unknown_layer_is_refused():
    class Custom(cn.Layer):
        pass

    with pytest.raises(TypeError, match="no PyTorch twin"):
        to_torch(cn.Sequential(Custom()))
