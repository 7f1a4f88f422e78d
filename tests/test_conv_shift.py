"""The shifted-rows forward (convnp.fast.conv_shift) against the loop oracle and the window route.

The route multiplies strided views of the padded image, one batched product per kernel row, and
adds the kernel rows' partial outputs; these tests force it (the documented hook
``force_conv_route(shift=...)``) on shapes the rule would never give it, and check the rule's
picks on the zoo's layers.
"""

import numpy as np
import pytest

from convnp import fast
from convnp.fast import force_conv_route
from convnp.fast.conv_band import band_block
from convnp.fast.conv_shift import shift_block
from convnp.functional import conv2d_backward_naive, conv2d_forward_naive

# (N, C, H, W), (O, KH, KW), padding: odd sizes, rectangular and even kernels, 'same' with its
# extra bottom/right row, asymmetric pairs, no padding, a 1x1 kernel, a 1x1 image
CASES = [
    ((3, 5, 7, 9), (4, 3, 3), 1),
    ((2, 16, 10, 12), (16, 3, 3), 1),
    ((2, 6, 9, 8), (3, 2, 3), "same"),
    ((2, 4, 6, 11), (5, 4, 4), "same"),
    ((2, 3, 9, 8), (3, 5, 4), (2, 0)),
    ((1, 2, 1, 1), (3, 5, 4), "same"),
    ((3, 2, 5, 5), (3, 1, 1), 0),
    ((2, 7, 6, 9), (2, 3, 1), (0, 2)),
]


@pytest.mark.parametrize("case", CASES, ids=str)
@pytest.mark.parametrize("block", [1, 2, 3, 16])
@pytest.mark.parametrize("chunk_bytes", [None, 1])  # 1: one image per chunk
def test_shifted_rows_forward_matches_the_loops(routes, case, block, chunk_bytes):
    """Output (with bias, with and without the fused ReLU) and gradients equal the loop oracle in
    float64, for every band width, in one chunk and one image at a time."""
    (n, c, h, w), (o, kh, kw), padding = case
    routes.enter_context(force_conv_route(band="off", shift=block, chunk_bytes=chunk_bytes))
    rng = np.random.default_rng(block)
    x = rng.standard_normal((n, c, h, w))
    weight, bias = rng.standard_normal((o, c, kh, kw)), rng.standard_normal(o)
    y, cache = fast.conv2d_forward(x, weight, bias, stride=1, padding=padding)
    assert cache.shift is not None and y.shape[3] % cache.shift == 0
    want = conv2d_forward_naive(x, weight, bias, padding=padding)
    np.testing.assert_allclose(y, want, rtol=0, atol=1e-12)
    y_relu, _ = fast.conv2d_forward(x, weight, bias, stride=1, padding=padding, relu=True)
    np.testing.assert_allclose(y_relu, np.maximum(want, 0), rtol=0, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    expected_grads = conv2d_backward_naive(dy, x, weight, padding=padding)
    for got, expected in zip(fast.conv2d_backward(dy, cache), expected_grads, strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-11)


def test_shifted_rows_without_bias_and_in_float32(routes):
    """No bias; float32 output close to the float64 truth, as close as the window route's."""
    rng = np.random.default_rng(3)
    x, weight = rng.standard_normal((4, 16, 20, 20)), rng.standard_normal((16, 16, 3, 3)) * 0.1
    truth = conv2d_forward_naive(x, weight, None, padding=1)
    errors = {}
    for shift in (2, "off"):
        with force_conv_route(band="off", shift=shift):
            y, cache = fast.conv2d_forward(x.astype(np.float32), weight.astype(np.float32), None, padding=1)
        assert y.dtype == np.float32 and (cache.shift is not None) == (shift != "off")
        errors[shift] = np.abs(y - truth).max()
    assert errors[2] < 1e-5 and errors[2] < 4 * errors["off"]


def test_shifted_rows_in_parts_on_threads_equal_one_part(routes):
    """Split over the engine's threads, each part by shifted rows: the same numbers."""
    rng = np.random.default_rng(4)
    x, weight = rng.standard_normal((6, 8, 9, 10)), rng.standard_normal((5, 8, 3, 3))
    bias = rng.standard_normal(5)
    routes.enter_context(force_conv_route(band="off", shift=2))
    with fast.force_threads(1):
        whole, _ = fast.conv2d_forward(x, weight, bias, padding=1)
    with fast.force_threads(2, every_batch=True):
        parts, cache = fast.conv2d_forward(x, weight, bias, padding=1)
    assert cache.parts is not None and all(part.shift == 2 for _, part in cache.parts)
    np.testing.assert_allclose(parts, whole, rtol=0, atol=1e-12)


def test_shifted_rows_build_no_window_matrix(routes):
    """The forward pass holds the padded images and partial outputs of one chunk, far less than
    the window matrix the other route builds."""
    import tracemalloc

    rng = np.random.default_rng(5)
    x, weight = rng.standard_normal((16, 16, 24, 24)), rng.standard_normal((16, 16, 3, 3))
    windows = x.shape[0] * 24 * 24 * 9 * 16 * x.itemsize  # the whole window matrix: 10.6 MB
    routes.enter_context(force_conv_route(band="off", shift=2, chunk_bytes=2**18))
    fast.conv2d_forward(x, weight, padding=1)  # warm the workspace up
    tracemalloc.start()
    try:
        fast.conv2d_forward(x, weight, padding=1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    output = x.shape[0] * 24 * 24 * 16 * x.itemsize
    assert peak < output + windows / 8, f"peak {peak} bytes; output {output}, window matrix {windows}"


@pytest.mark.parametrize("in_channels, out_channels, width, stride, kernel, expected", [
    (16, 16, 32, 1, 3, 2),  # the ResNets' 16->16 layers: bands of 2
    (16, 16, 28, 1, 3, 2),  # deep-cnn's second conv
    (32, 32, 32, 1, 3, 1),  # cifar-small's 32->32
    (32, 64, 16, 1, 3, 1),  # cifar-small's 32->64
    (16, 16, 30, 1, 3, 2),
    (16, 16, 17, 1, 3, 1),  # odd width: bands of 2 do not fit
    (64, 64, 16, 1, 3, None),  # 64 input channels: the window matrix
    (3, 16, 32, 1, 3, None),  # few channels: the transposed window matrix
    (16, 32, 14, 1, 3, None),  # narrow images
    (16, 32, 32, 2, 3, None),  # stride 2
    (16, 16, 32, 1, 1, None),  # 1x1: the window matrix is the image
])
def test_rule_picks(in_channels, out_channels, width, stride, kernel, expected):
    assert shift_block(in_channels, (out_channels, in_channels, kernel, kernel), (stride, stride),
                       (width, width)) == expected


def test_rule_keeps_layers_whose_dx_needs_the_window_matrix_on_it():
    """A 'valid' stride-1 layer takes the rows route for dx, which rebuilds the input's window
    matrix; the rule leaves its forward on that matrix (built once, kept or chunked)."""
    rng = np.random.default_rng(6)
    x, weight = rng.standard_normal((2, 32, 20, 20)), rng.standard_normal((32, 32, 5, 5))
    _, same = fast.conv2d_forward(x, weight, padding=2)
    _, valid = fast.conv2d_forward(x, weight, padding=0)  # 20x20 -> 16x16
    assert same.shift == 1 and valid.shift is None


@pytest.mark.parametrize("bad", [0, -2, True, 2.0, "on"])
def test_force_conv_route_rejects_bad_shift(bad):
    with pytest.raises(ValueError, match="shift must be None, 'off' or a positive int"), \
            force_conv_route(shift=bad):
        pass


@pytest.mark.parametrize("shape, weight_shape, padding", [
    ((2, 16, 32, 32), (16, 16, 3, 3), 1),  # the ResNets' 16->16: a band in inference before
    ((2, 16, 28, 28), (16, 16, 3, 3), 1),  # deep-cnn's 16->16
    ((2, 8, 20, 20), (8, 8, 3, 3), 0),  # 'valid': dx would take another route; inference does not care
])
def test_inference_takes_shifted_rows_over_the_rules_band(shape, weight_shape, padding):
    """A forward pass alone (``for_backward=False``) takes shifted rows where the rule would
    give a band, and the numbers still equal the loop oracle in float64 — gradients too, should
    a backward pass follow after all. Training keeps the rule's route; a forced band wins."""
    rng = np.random.default_rng(7)
    x, weight = rng.standard_normal(shape), rng.standard_normal(weight_shape)
    bias = rng.standard_normal(weight_shape[0])
    out_hw = (shape[2] + 2 * padding - 2, shape[3] + 2 * padding - 2)
    assert band_block(weight_shape, (1, 1), out_hw, for_backward=False)  # the rule's band
    y, cache = fast.conv2d_forward(x, weight, bias, padding=padding, for_backward=False)
    assert cache.shift and cache.block is None
    np.testing.assert_allclose(y, conv2d_forward_naive(x, weight, bias, padding=padding), rtol=0, atol=1e-12)
    dy = rng.standard_normal(y.shape)
    expected_grads = conv2d_backward_naive(dy, x, weight, padding=padding)
    for got, expected in zip(fast.conv2d_backward(dy, cache), expected_grads, strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-11)
    with force_conv_route(band="narrow"):
        _, forced_band = fast.conv2d_forward(x, weight, bias, padding=padding, for_backward=False)
    assert forced_band.block and forced_band.shift is None


def test_training_keeps_the_band_the_rule_gives():
    """In training the rule's band stays (its backward needs the band matrix, not the image)."""
    rng = np.random.default_rng(8)
    x, weight = rng.standard_normal((2, 4, 24, 24)), rng.standard_normal((4, 4, 5, 5))
    _, train = fast.conv2d_forward(x, weight, padding=2)
    _, infer = fast.conv2d_forward(x, weight, padding=2, for_backward=False)
    assert train.block and train.shift is None
    assert infer.shift and infer.block is None
