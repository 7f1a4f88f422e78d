"""The band route of Conv2d (functional/conv_band.py): its pieces, its choice, and its gradients.

The whole layer is checked against torch on every route in test_conv.py (``CONV_ROUTES``); here
each piece is checked against its definition, and the rule that picks the route is pinned.
"""

import numpy as np
import pytest

import convnp as cn
from convnp.fast import conv_band, windows
from convnp.fast.conv_band import band_block, band_chunks, band_weight_grad, band_weights
from helpers import CONV_ROUTES, use_conv_route

# kernel, stride, block, output width: pieces of 1, 2 and 3 per band row, a stride wider than the
# kernel (gaps between a band's windows), a rectangular kernel
GEOMETRIES = [((5, 5), (1, 1), 4, 8), ((5, 5), (1, 1), 2, 6), ((3, 3), (1, 1), 3, 6),
              ((2, 2), (3, 3), 2, 4), ((3, 2), (2, 1), 5, 5), ((1, 4), (1, 2), 3, 3)]


def _band_matrix(padded, kernel, stride, out_hw, block):
    return np.concatenate([band for _, band in band_chunks(padded, kernel, stride, out_hw, block)])


@pytest.mark.parametrize("kernel, stride, block, ow", GEOMETRIES, ids=str)
def test_band_matrix_rows_are_the_windows_of_a_band(kernel, stride, block, ow):
    """Row (n, i, b) holds KH runs of SPAN pixels from (i*SH + p, b*B*SW) on, then a one."""
    rng = np.random.default_rng(0)
    (kh, kw), (sh, sw) = kernel, stride
    oh, span, c = 3, (block - 1) * sw + kw, 2
    padded = rng.standard_normal((2, (oh - 1) * sh + kh, (ow - 1) * sw + kw, c))  # (N, Hp, Wp, C)
    matrix = _band_matrix(padded, kernel, stride, (oh, ow), block)
    assert matrix.shape == (2 * oh * (ow // block), kh * span * c + 1)
    for row, (n, i, b) in enumerate(np.ndindex(2, oh, ow // block)):
        x0 = b * block * sw
        expected = padded[n, i * sh:i * sh + kh, x0:x0 + span].ravel()  # (KH, SPAN, C)
        np.testing.assert_array_equal(matrix[row], np.append(expected, 1.0))


@pytest.mark.parametrize("kernel, stride, block, ow", GEOMETRIES, ids=str)
@pytest.mark.parametrize("whole_rows", [False, True], ids=["bands", "whole rows"])
def test_band_input_grad_is_the_adjoint_of_the_band_copy(kernel, stride, block, ow, whole_rows, monkeypatch):
    """<band(x) @ W.T, dY> == <x, band_input_grad(dY)>, also chunk by chunk of images, with dx
    in the forward's bands or in bands as wide as the output row."""
    monkeypatch.setattr(windows, "KEEP_COLUMNS_BYTES", 0)
    monkeypatch.setattr(windows, "COLUMN_CHUNK_BYTES", 1)  # one image per chunk
    monkeypatch.setattr(conv_band, "WHOLE_ROW_DX_MAX_GROWTH", 1e9 if whole_rows else 0.0)
    rng = np.random.default_rng(1)
    (kh, kw), (sh, sw), oh, c, o = kernel, stride, 2, 3, 2
    padded = rng.standard_normal((3, (oh - 1) * sh + kh + 1, (ow - 1) * sw + kw + 1, c))  # spare row, column
    weight = rng.standard_normal((o, c, kh, kw))
    dy_2d = rng.standard_normal((3 * oh * ow, o))  # (N*OH*OW, O)
    matrix = band_weights(weight, None, block, stride)  # (B*O, KH*SPAN*C + 1)
    y_band = _band_matrix(padded, kernel, stride, (oh, ow), block) @ matrix.T  # (N*OH*OW/B, B*O)
    grad = conv_band.band_input_grad(dy_2d, weight, padded.shape, stride, (oh, ow), block)
    np.testing.assert_allclose(np.sum(y_band.ravel() * dy_2d.ravel()), np.sum(padded * grad), rtol=1e-12)
    assert not grad[:, :, -1].any() and not grad[:, -1].any()  # the spare pixels read nothing


@pytest.mark.parametrize("block, stride", [(1, (1, 1)), (4, (1, 1)), (3, (2, 3))])
def test_band_weight_grad_is_the_adjoint_of_band_weights(block, stride):
    rng = np.random.default_rng(2)
    weight, bias = rng.standard_normal((3, 2, 4, 5)), rng.standard_normal(3)
    matrix = band_weights(weight, bias, block, stride)
    dmatrix = rng.standard_normal(matrix.shape)
    dweight, dbias = band_weight_grad(dmatrix, weight.shape, block, stride)
    np.testing.assert_allclose(np.sum(matrix * dmatrix), np.sum(weight * dweight) + np.sum(bias * dbias),
                               rtol=1e-12)
    assert np.count_nonzero(matrix[:, :-1]) == block * weight.size  # each weight B times, zeros elsewhere


@pytest.mark.parametrize("weight_shape, out_hw, block", [
    ((8, 1, 5, 5), (24, 24), 8),  # seed002's first conv
    ((16, 8, 5, 5), (8, 8), 4),  # seed002's second conv
    ((6, 1, 5, 5), (28, 28), 14),  # LeNet-5's first conv
    ((16, 6, 5, 5), (10, 10), 5),  # LeNet-5's second conv
    ((30, 1, 5, 5), (24, 24), 4),  # simple-cnn's conv
    ((8, 1, 3, 3), (26, 26), 13),  # seed000's conv
    ((16, 1, 3, 3), (28, 28), 7),  # deep-cnn's first conv
    ((16, 16, 3, 3), (32, 32), None),  # the ResNets' first stage: bands 1.45x slower (predicted +32)
    ((16, 16, 3, 3), (28, 28), None),  # deep-cnn's second conv
    ((32, 32, 3, 3), (32, 32), None),  # cifar-small's convs after the first: many channels, 3x3
    ((64, 64, 3, 3), (8, 8), None),
    ((8, 1, 5, 5), (17, 17), None),  # no block from 2 to 16 divides 17
    ((8, 1, 5, 5), (1, 1), None),
])
def test_band_block_picks_bands_for_few_filters_only(weight_shape, out_hw, block):
    """The measured choice (docs/performance.md, "Band route"): bands pay for few input channels
    and few filters."""
    assert band_block(weight_shape, (1, 1), out_hw) == block


def test_inference_takes_a_band_that_only_pays_forward():
    """The ResNets' 16->16 3x3 conv: bands are faster forward, 1.45x slower forward + backward;
    their 32->32 convs (predicted gain +8) are 5% slower on bands even forward. On images 16 or
    more wide the shifted rows beat that band forward (tests/test_conv_shift.py); on narrower
    ones (14x14) the band is what inference takes."""
    assert band_block((16, 16, 3, 3), (1, 1), (32, 32)) is None
    assert band_block((16, 16, 3, 3), (1, 1), (32, 32), for_backward=False) == 2
    assert band_block((32, 32, 3, 3), (1, 1), (16, 16), for_backward=False) is None
    model = cn.Sequential(cn.Conv2d(16, 16, 3, padding=1, rng=0))
    for width, inference_route in ((14, (2, None)), (32, (None, 2))):
        x = np.random.default_rng(0).random((2, 16, width, width), dtype=np.float32)
        for training, route in ((True, (None, 2 if width >= 16 else None)), (False, inference_route)):
            model.train(training)
            plan = cn.fast.planner.plan(model.layers, training)
            plan.forward(x)
            cache = plan.steps[0][1].cache
            assert (cache.block, cache.shift) == route, (width, training)


def test_inference_keeps_the_window_route_where_it_splits_over_threads():
    """A band never splits: where the window route runs on several threads, a small predicted
    gain (the 16->16 conv's 32) does not take the band; a large one (seed002's 8->16) still does."""
    assert band_block((16, 16, 3, 3), (1, 1), (32, 32), for_backward=False, splits=True) is None
    assert band_block((16, 8, 5, 5), (1, 1), (8, 8), for_backward=False, splits=True) == 4
    model = cn.Sequential(cn.Conv2d(16, 16, 3, padding=1, rng=0)).eval()
    x = np.random.default_rng(0).random((4, 16, 32, 32), dtype=np.float32)
    expected = cn.Sequential(cn.Conv2d(16, 16, 3, padding=1, rng=0)).eval().forward(x)
    with cn.fast.force_threads(2, every_batch=True):
        plan = cn.fast.planner.plan(model.layers, training=False)
        y = plan.forward(x)
    cache = plan.steps[0][1].cache
    assert cache.block is None and cache.parts is not None and len(cache.parts) == 2
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)


def test_a_band_that_one_core_would_run_must_beat_the_window_routes_share():
    """With BLAS held on one thread (a threaded plan's pass) a band runs on one core while the
    window route's parts run on all: cifar-small's 3->32 conv leaves its band there, deep-cnn's
    1->16 keeps it (its window route costs more than twice its band). Same numbers either way."""
    assert band_block((32, 3, 3, 3), (1, 1), (32, 32)) == 2
    assert band_block((32, 3, 3, 3), (1, 1), (32, 32), splits=True, window_share=0.5) is None
    assert band_block((16, 1, 3, 3), (1, 1), (28, 28), splits=True, window_share=0.5) == 7
    if cn.fast.parallel.blas_threads() is None:
        pytest.skip("OpenBLAS not found: BLAS is never held on one thread")
    rng = np.random.default_rng(9)
    x, weight = rng.standard_normal((4, 3, 32, 32)), rng.standard_normal((32, 3, 3, 3))
    bias = rng.standard_normal(32)
    with cn.fast.force_threads(2, every_batch=True):
        y_free, free = cn.fast.conv2d_forward(x, weight, bias, padding=1)
        with cn.fast.parallel.single_threaded_blas():
            y_held, held = cn.fast.conv2d_forward(x, weight, bias, padding=1)
            assert cn.fast.parallel.blas_held()
        assert not cn.fast.parallel.blas_held()
    assert free.block == 2 and free.parts is None
    assert held.block is None and len(held.parts) == 2 and all(not part.block for _, part in held.parts)
    np.testing.assert_allclose(y_held, y_free, rtol=0, atol=1e-12)
    dy = rng.standard_normal(y_free.shape)
    expected_grads = cn.fast.conv2d_backward(dy, free)
    for got, expected in zip(cn.fast.conv2d_backward(dy, held), expected_grads, strict=True):
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-11)


@pytest.mark.parametrize("route", CONV_ROUTES)
@pytest.mark.parametrize("config", [dict(in_channels=2, out_channels=3, kernel_size=3, padding=1),
                                    dict(in_channels=1, out_channels=2, kernel_size=(2, 3), stride=(2, 1)),
                                    dict(in_channels=3, out_channels=2, kernel_size=2, padding="same",
                                         bias=False)], ids=str)
def test_gradcheck_on_every_route(routes, route, config, monkeypatch):
    use_conv_route(routes, route)
    layer = cn.Conv2d(**config, dtype=np.float64, rng=0)
    x = np.random.default_rng(3).standard_normal((2, config["in_channels"], 5, 6))
    assert cn.gradcheck(layer, x) is True


def test_band_route_keeps_float32_and_skips_dx(routes):
    use_conv_route(routes, "band-wide")
    rng = np.random.default_rng(4)
    model = cn.Sequential(cn.Conv2d(1, 4, 5, rng=0))
    layer = model[0]
    y = model(rng.standard_normal((3, 1, 12, 12)).astype(np.float32))
    dx = model.backward(np.ones_like(y), input_grad=False)
    assert dx is None and y.dtype == layer.weight.grad.dtype == layer.bias.grad.dtype == np.float32
    np.testing.assert_allclose(layer.bias.grad, np.full(4, 3 * 8 * 8), rtol=1e-6)


def test_band_input_grad_refuses_an_image_too_small_for_its_bands():
    """A wrong padded shape must raise before any strided write could leave the array."""
    weight, dy_2d = np.ones((2, 1, 5, 5)), np.ones((1 * 4 * 8, 2))  # (N*OH*OW, O) for 4x8 outputs
    with pytest.raises(ValueError, match=r"band_input_grad: \(4, 8\) outputs in bands of \d+ do not fit"):
        conv_band.band_input_grad(dy_2d, weight, (1, 8, 10, 1), (1, 1), (4, 8), 4)  # needs width 12
