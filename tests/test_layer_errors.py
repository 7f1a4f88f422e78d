"""Bad input gives a clear error naming the layer, what it expected and what it got."""

import re

import numpy as np
import pytest

import convnp as cn

F32 = np.float32


def _zeros(shape, dtype=F32):
    return np.zeros(shape, dtype=dtype)


# ---- forward: wrong rank, channels, features, dtype --------------------------------------------
@pytest.mark.parametrize("shape", [(2, 3, 5), (3, 5, 5), (1, 2, 3, 5, 5), (5,)])
def test_conv_wrong_rank(shape):
    with pytest.raises(ValueError, match=re.escape(f"Conv2d(3→8, k=3): expected input of shape "
                                                   f"(N, 3, H, W), got {shape}")):
        cn.Conv2d(3, 8, 3)(_zeros(shape))


def test_conv_wrong_channel_count():
    with pytest.raises(ValueError, match=re.escape("Conv2d(3→8, k=3): expected input of shape "
                                                   "(N, 3, H, W), got (2, 4, 5, 5)")):
        cn.Conv2d(3, 8, 3)(_zeros((2, 4, 5, 5)))


@pytest.mark.parametrize("layer, shape, name", [
    (lambda: cn.Conv2d(3, 8, 3), (2, 3, 5, 5), r"Conv2d\(3→8, k=3\)"),
    (lambda: cn.Linear(4, 2), (2, 4), r"Linear\(4→2\)"),
    (lambda: cn.MaxPool2d(2), (1, 1, 4, 4), r"MaxPool2d\(k=2\)"),
    (lambda: cn.AvgPool2d(2), (1, 1, 4, 4), r"AvgPool2d\(k=2\)"),
    (lambda: cn.ReLU(), (2, 3), r"ReLU\(\)"),
    (lambda: cn.Softmax(), (2, 3), r"Softmax\(dim=1\)"),
])
@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.uint8, np.bool_])
def test_integer_input_is_a_type_error(layer, shape, name, dtype):
    with pytest.raises(TypeError, match=rf"{name}: expected a floating-point array, "
                                        rf"got dtype {np.dtype(dtype)}"):
        layer()(np.zeros(shape, dtype=dtype))


@pytest.mark.parametrize("layer, shape, name", [
    (lambda dt: cn.Conv2d(3, 8, 3, dtype=dt), (2, 3, 5, 5), r"Conv2d\(3→8, k=3\)"),
    (lambda dt: cn.Linear(4, 2, dtype=dt), (2, 4), r"Linear\(4→2\)"),
])
@pytest.mark.parametrize("layer_dtype, input_dtype", [(np.float32, np.float64),
                                                      (np.float64, np.float32)])
def test_input_dtype_must_match_layer_dtype(layer, shape, name, layer_dtype, input_dtype):
    expected, got = np.dtype(layer_dtype), np.dtype(input_dtype)
    with pytest.raises(TypeError, match=rf"{name}: expected {expected} input .* got {got}"):
        layer(layer_dtype)(np.zeros(shape, dtype=input_dtype))


def test_non_array_input_is_a_type_error():
    with pytest.raises(TypeError, match=r"Conv2d\(1→1, k=1\).*got list"):
        cn.Conv2d(1, 1, 1)([[[[1.0]]]])


def test_linear_wrong_feature_count():
    with pytest.raises(ValueError, match=re.escape("Linear(10→4): expected input of shape "
                                                   "(N, 10), got (2, 11)")):
        cn.Linear(10, 4)(_zeros((2, 11)))


@pytest.mark.parametrize("shape", [(10,), (2, 10, 1)])
def test_linear_wrong_rank(shape):
    with pytest.raises(ValueError, match=re.escape(f"Linear(10→4): expected input of shape "
                                                   f"(N, 10), got {shape}")):
        cn.Linear(10, 4)(_zeros(shape))


def test_linear_on_images_suggests_flatten():
    with pytest.raises(ValueError, match=r"Linear\(12→4\): expected input of shape \(N, 12\), "
                                         r"got \(2, 3, 2, 2\); add a Flatten\(\) layer before it"):
        cn.Linear(12, 4)(_zeros((2, 3, 2, 2)))


@pytest.mark.parametrize("layer", [lambda: cn.MaxPool2d(2), lambda: cn.AvgPool2d(2)])
@pytest.mark.parametrize("shape", [(1, 4, 4), (4, 4), (1, 1, 1, 4, 4)])
def test_pool_wrong_rank(layer, shape):
    with pytest.raises(ValueError, match=re.escape(f"Pool2d(k=2): expected input of shape "
                                                   f"(N, C, H, W), got {shape}")):
        layer()(_zeros(shape))


def test_flatten_needs_a_batch_axis():
    with pytest.raises(ValueError, match=r"Flatten\(\): .*rank >= 2, got \(3,\)"):
        cn.Flatten()(_zeros((3,)))


# ---- input smaller than the kernel -------------------------------------------------------------
@pytest.mark.parametrize("layer, shape, name", [
    (lambda: cn.Conv2d(2, 3, 3), (1, 2, 2, 5), r"Conv2d\(2→3, k=3\)"),
    (lambda: cn.Conv2d(2, 3, (1, 4), padding=1), (1, 2, 5, 1), r"Conv2d\(2→3, k=1x4"),
    (lambda: cn.MaxPool2d(3), (1, 1, 5, 2), r"MaxPool2d\(k=3\)"),
    (lambda: cn.AvgPool2d((2, 4), padding=(0, 1)), (1, 1, 5, 1), r"AvgPool2d\(k=\(2, 4\)"),
])
def test_input_smaller_than_kernel(layer, shape, name):
    with pytest.raises(ValueError, match=rf"{name}.*: input of spatial size .* is smaller than the "
                                         rf"kernel"):
        layer()(_zeros(shape))


# ---- backward ---------------------------------------------------------------------------------
BACKWARD_CASES = {
    "Conv2d": (lambda: cn.Conv2d(3, 4, 3), (2, 3, 5, 5)),
    "Linear": (lambda: cn.Linear(6, 4), (2, 6)),
    "Flatten": (lambda: cn.Flatten(), (2, 3, 2)),
    "MaxPool2d": (lambda: cn.MaxPool2d(2), (2, 3, 4, 4)),
    "AvgPool2d": (lambda: cn.AvgPool2d(2), (2, 3, 4, 4)),
    "ReLU": (lambda: cn.ReLU(), (2, 3)),
    "LeakyReLU": (lambda: cn.LeakyReLU(), (2, 3)),
    "Sigmoid": (lambda: cn.Sigmoid(), (2, 3)),
    "Tanh": (lambda: cn.Tanh(), (2, 3)),
    "ELU": (lambda: cn.ELU(), (2, 3)),
    "SELU": (lambda: cn.SELU(), (2, 3)),
    "Softplus": (lambda: cn.Softplus(), (2, 3)),
    "Softmax": (lambda: cn.Softmax(), (2, 3)),
}


@pytest.mark.parametrize("name", BACKWARD_CASES)
def test_backward_before_forward(name):
    layer = BACKWARD_CASES[name][0]()
    with pytest.raises(RuntimeError, match=rf"^{name}.*backward\(\) called before forward\(\)"):
        layer.backward(_zeros((2, 3)))


@pytest.mark.parametrize("name", BACKWARD_CASES)
def test_backward_with_wrong_dy_shape(name):
    factory, shape = BACKWARD_CASES[name]
    layer = factory()
    y = layer(np.ones(shape, dtype=F32))
    wrong = y.shape[:-1] + (y.shape[-1] + 1,)
    with pytest.raises(ValueError, match=rf"^{name}.*expected dy of shape "
                                         rf"{re.escape(str(y.shape))}.*got {re.escape(str(wrong))}"):
        layer.backward(_zeros(wrong))
    with pytest.raises(ValueError, match=rf"^{name}"):
        layer.backward(_zeros(y.shape[1:]))  # batch axis forgotten


# ---- constructors -----------------------------------------------------------------------------
@pytest.mark.parametrize("stride", [2, (1, 2)])
def test_same_padding_needs_stride_one(stride):
    with pytest.raises(ValueError, match=r"Conv2d: padding='same' is only supported with stride 1"):
        cn.Conv2d(3, 8, 3, stride=stride, padding="same")


@pytest.mark.parametrize("make", [
    lambda: cn.Conv2d(3, 8, 0), lambda: cn.Conv2d(3, 8, (3, 0)), lambda: cn.Conv2d(3, 8, 3, stride=0),
    lambda: cn.MaxPool2d(0), lambda: cn.AvgPool2d((0, 2)), lambda: cn.MaxPool2d(2, stride=0),
])
def test_zero_kernel_or_stride(make):
    with pytest.raises(ValueError, match=r"(Conv2d|MaxPool2d|AvgPool2d) (kernel_size|stride) must "
                                         r"be positive"):
        make()


@pytest.mark.parametrize("make", [
    lambda: cn.Conv2d(3, 8, 3, padding=-1), lambda: cn.Conv2d(3, 8, 3, padding=(0, -2)),
    lambda: cn.MaxPool2d(2, padding=-1), lambda: cn.AvgPool2d(3, padding=(1, -1)),
])
def test_negative_padding(make):
    with pytest.raises(ValueError, match=r"^(Conv2d|MaxPool2d|AvgPool2d): padding must be "
                                         r"non-negative"):
        make()


@pytest.mark.parametrize("make, name", [
    (lambda: cn.MaxPool2d(2, padding=2), r"MaxPool2d\(k=2, padding=2\)"),
    (lambda: cn.MaxPool2d(3, padding=2), r"MaxPool2d\(k=3, padding=2\)"),
    (lambda: cn.AvgPool2d((4, 3), padding=(2, 2)), r"AvgPool2d\(k=\(4, 3\), padding=2\)"),
])
def test_pool_padding_more_than_half_the_kernel(make, name):
    with pytest.raises(ValueError, match=rf"{name}: padding .* must be at most half the kernel"):
        make()


@pytest.mark.parametrize("make", [
    lambda: cn.Conv2d(3, 8, 3, padding="full"), lambda: cn.Conv2d(3, 8, 2.5),
    lambda: cn.MaxPool2d(2, padding="same"), lambda: cn.Conv2d(3, 8, 3, padding=(1, 1, 1)),
    lambda: cn.Conv2d(3, 8, 3, dtype=np.int32), lambda: cn.Linear(3, 8, dtype=np.int64),
])
def test_invalid_argument_types(make):
    with pytest.raises((TypeError, ValueError)):
        make()


@pytest.mark.parametrize("make", [lambda: cn.Conv2d(0, 8, 3), lambda: cn.Conv2d(3, -1, 3),
                                  lambda: cn.Linear(0, 3), lambda: cn.Linear(3, 2.0)])
def test_sizes_must_be_positive_ints(make):
    with pytest.raises(ValueError, match=r"(Conv2d|Linear): \w+ must be a positive int"):
        make()
