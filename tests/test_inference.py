"""predict and evaluate on the fast engine run a large batch in parts, one per engine thread, each
part through the whole model (convnp.fast.inference): the same outputs as the batch in one
piece and as the textbook, and a model with a layer convnp does not know runs whole."""

import math
import threading

import numpy as np
import pytest

import convnp as cn
from convnp.fast import inference, parallel


def mixed_model(dtype):
    """Every kind of layer inference counts: conv, BatchNorm, pools, residual blocks (identity
    and projection shortcut), activations, dropout, linear, softmax."""
    rng = np.random.default_rng(0)

    def conv(*args, **kwargs):
        return cn.Conv2d(*args, **kwargs, dtype=dtype, rng=rng)

    model = cn.Sequential(
        conv(3, 6, 3, padding=1), cn.BatchNorm2d(6, dtype=dtype), cn.ReLU(), cn.MaxPool2d(2),
        cn.Residual(conv(6, 6, 3, padding=1, bias=False), cn.BatchNorm2d(6, dtype=dtype), cn.Tanh()),
        cn.Residual(conv(6, 8, 3, stride=2, padding=1), cn.LeakyReLU(0.1),
                    shortcut=[conv(6, 8, 1, stride=2), cn.BatchNorm2d(8, dtype=dtype)]),
        cn.AvgPool2d(2), cn.Flatten(), cn.Dropout(0.3, rng=1), cn.Linear(8 * 2 * 2, 5, dtype=dtype, rng=rng),
        cn.Softmax())
    model.forward(rng.standard_normal((8, 3, 16, 16)).astype(dtype))  # training mode: running statistics
    return model


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_predict_and_evaluate_in_parts_equal_the_whole_batch_and_the_textbook(dtype, rtol):
    model = mixed_model(dtype)
    x = np.random.default_rng(1).standard_normal((9, 3, 16, 16)).astype(dtype)
    y = np.arange(9) % 5
    with parallel.force_threads(2, every_batch=True):
        before = parallel.split_count()
        in_parts = model.predict(x, batch_size=9)
        assert parallel.split_count() == before + 1  # the batch once; no layer splits inside a part
        scores = model.evaluate(x, y, loss=cn.CrossEntropyLoss(), batch_size=9)
    with parallel.force_threads(1):
        whole = model.predict(x, batch_size=9)
        expected = model.evaluate(x, y, loss=cn.CrossEntropyLoss(), batch_size=9)
    with cn.engine("reference"):
        textbook = model.predict(x, batch_size=9)
    np.testing.assert_allclose(in_parts, whole, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(in_parts, textbook, rtol=max(rtol, 1e-10), atol=rtol)
    assert scores["accuracy"] == expected["accuracy"]
    assert scores["loss"] == pytest.approx(expected["loss"], rel=rtol)
    assert model.training  # predict and evaluate put the mode back


class Doubling(cn.Layer):
    """A user's own layer: it may not expect two threads at once."""

    def __init__(self):
        super().__init__()
        self.threads = set()

    def forward(self, x):
        self.threads.add(threading.get_ident())
        return 2 * x

    def backward(self, dy):
        return 2 * dy


@pytest.mark.parametrize("odd_layer", [Doubling, type("MyReLU", (cn.ReLU,), {})],
                         ids=["own layer", "subclass"])
def test_a_model_with_a_layer_inference_does_not_know_runs_whole_on_the_callers_thread(odd_layer):
    layer = odd_layer()
    model = cn.Sequential(cn.Conv2d(1, 2, 3, rng=0), layer, cn.Flatten(), cn.Linear(2 * 4 * 4, 3, rng=0))
    x = np.random.default_rng(2).standard_normal((6, 1, 6, 6)).astype(np.float32)
    assert inference.multiply_adds_per_image(model.layers, x.shape[1:]) is None
    with parallel.force_threads(2, every_batch=True):
        in_parts = model.predict(x, batch_size=6)
        assert getattr(layer, "threads", {threading.get_ident()}) == {threading.get_ident()}
    with parallel.force_threads(1):
        np.testing.assert_allclose(in_parts, model.predict(x, batch_size=6), rtol=1e-6)


def test_multiply_adds_per_image_count_convolutions_and_linear_layers():
    lenet5 = cn.models.build("lenet5", (1, 28, 28), 10, rng=0).eval()
    convolutions = 28 * 28 * 6 * 25 + 10 * 10 * 16 * 6 * 25  # 5x5 kernels: 1->6 padded, 6->16 valid
    linear = 400 * 120 + 120 * 84 + 84 * 10
    assert inference.multiply_adds_per_image(lenet5.layers, (1, 28, 28)) == convolutions + linear
    projection = cn.Residual(cn.Conv2d(4, 8, 3, stride=2, padding=1), shortcut=[cn.Conv2d(4, 8, 1, stride=2)])
    block = cn.Sequential(projection, cn.GlobalAvgPool2d(), cn.Linear(8, 2)).eval()
    assert inference.multiply_adds_per_image(block, (4, 10, 10)) == 5 * 5 * 8 * (4 * 9 + 4) + 8 * 2
    lenet5[3].train()  # a layer in training mode: the model runs whole
    assert inference.multiply_adds_per_image(lenet5.layers, (1, 28, 28)) is None
    lenet5.eval()
    across_the_batch = cn.Sequential(cn.Flatten(), cn.Linear(784, 3), cn.Softmax(dim=0)).eval()
    assert inference.multiply_adds_per_image(across_the_batch, (1, 28, 28)) is None
    assert inference.multiply_adds_per_image(across_the_batch[:2], (1, 28, 28)) == 784 * 3
    # shapes the layers will reject: not counted, so the model runs whole and says what is wrong
    assert inference.multiply_adds_per_image(lenet5.layers, (3, 28, 28)) is None
    assert inference.multiply_adds_per_image(block, (3, 10, 10)) is None


def test_a_batch_splits_only_when_each_part_has_a_threads_worth_of_work():
    model = cn.models.build("lenet5", (1, 28, 28), 10, rng=0).eval()
    work = inference.multiply_adds_per_image(model.layers, (1, 28, 28))
    smallest = math.ceil(2 * parallel.PART_MIN_MACS / work)  # two parts of PART_MIN_MACS each
    x = np.random.default_rng(3).standard_normal((smallest, 1, 28, 28)).astype(np.float32)
    with parallel.force_threads(2):
        for n, splits in ((smallest - 1, 0), (smallest, 1)):
            before = parallel.split_count()
            model.predict(x[:n], batch_size=n)
            assert parallel.split_count() - before == splits, n
        with cn.engine("reference"):
            before = parallel.split_count()
            model.predict(x, batch_size=smallest)
            assert parallel.split_count() == before


def test_a_wrong_input_still_gets_the_layers_own_error():
    model = cn.models.build("lenet5", (1, 28, 28), 10, rng=0)
    with parallel.force_threads(2, every_batch=True), pytest.raises(ValueError, match=r"^layer 0 Conv2d"):
        model.predict(np.zeros((4, 3, 28, 28), np.float32))
