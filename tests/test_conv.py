"""Conv2d against torch.nn.Conv2d in float64: forward, input and parameter gradients to 1e-10."""

import math

import numpy as np
import pytest
import torch

import convnp as cn
from helpers import CONV_ROUTES, DX_ROUTES, as_pair, maybe_pair, use_conv_route

# torch notes that an even kernel with padding="same" may copy the input; that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


def _padding_total(padding, kernel):
    """Total zero padding per axis (top + bottom, left + right)."""
    if padding == "valid":
        return (0, 0)
    if padding == "same":
        return (kernel[0] - 1, kernel[1] - 1)
    pad = as_pair(padding)
    return (2 * pad[0], 2 * pad[1])


def conv_config(seed):
    """A random Conv2d configuration with a non-empty output (sizes redrawn until it fits)."""
    rng = np.random.default_rng(seed)
    kernel_size = maybe_pair(rng, 1, 5)
    padding = [0, 1, 2, "same", "valid", "pair"][int(rng.integers(6))]
    if padding == "pair":
        padding = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    stride = 1 if padding == "same" else maybe_pair(rng, 1, 3)
    kernel, total = as_pair(kernel_size), _padding_total(padding, as_pair(kernel_size))
    while True:
        height, width = (int(v) for v in rng.integers(1, 16, size=2))
        if height + total[0] >= kernel[0] and width + total[1] >= kernel[1]:
            break
    return dict(batch=int(rng.integers(1, 6)), in_channels=int(rng.integers(1, 7)),
                out_channels=int(rng.integers(1, 7)), hw=(height, width), kernel_size=kernel_size,
                stride=stride, padding=padding, bias=bool(rng.random() < 0.75))


def torch_conv_like(layer):
    """A float64 torch.nn.Conv2d holding the same weights as ``layer`` (no transposes)."""
    module = torch.nn.Conv2d(layer.in_channels, layer.out_channels, layer.kernel_size,
                             layer.stride, layer.padding, bias=layer.bias is not None,
                             dtype=torch.float64)
    module.weight.data = torch.from_numpy(layer.weight.data.copy())
    if layer.bias is not None:
        module.bias.data = torch.from_numpy(layer.bias.data.copy())
    return module


def check_conv(config, seed, torch_check):
    rng = np.random.default_rng(1000 + seed)
    layer = cn.Conv2d(config["in_channels"], config["out_channels"], config["kernel_size"],
                      config["stride"], config["padding"], config["bias"], dtype=np.float64,
                      rng=seed)
    x = rng.standard_normal((config["batch"], config["in_channels"], *config["hw"]))
    torch_check(layer, torch_conv_like(layer), x, rng, config=str(config))


@pytest.mark.parametrize("route", CONV_ROUTES)
@pytest.mark.parametrize("seed", range(40))
def test_conv2d_matches_torch_random_config(routes, seed, route, torch_check):
    use_conv_route(routes, route)
    check_conv(conv_config(seed), seed, torch_check)


@pytest.mark.parametrize("seed", range(40))
def test_textbook_conv2d_matches_torch_random_config(seed, torch_check):
    """The reference engine runs convnp.functional's im2col -> matmul -> col2im."""
    with cn.engine("reference"):
        check_conv(conv_config(seed), seed, torch_check)


FIXED_CONFIGS = [
    # 'same' with even and rectangular kernels: torch pads the extra row/column at bottom/right.
    dict(kernel_size=2, stride=1, padding="same", hw=(5, 6), bias=True),
    dict(kernel_size=4, stride=1, padding="same", hw=(7, 4), bias=False),
    dict(kernel_size=(2, 3), stride=1, padding="same", hw=(3, 8), bias=True),
    dict(kernel_size=(5, 4), stride=1, padding="same", hw=(1, 1), bias=True),
    dict(kernel_size=3, stride=2, padding="valid", hw=(9, 10), bias=False),
    dict(kernel_size=(1, 5), stride=(3, 1), padding=(2, 0), hw=(15, 5), bias=True),
    dict(kernel_size=(3, 1), stride=(1, 2), padding=(0, 1), hw=(4, 13), bias=False),
    dict(kernel_size=5, stride=3, padding=2, hw=(1, 1), bias=True),  # all-padding windows
    dict(kernel_size=1, stride=1, padding=0, hw=(1, 1), bias=True),
]


@pytest.mark.parametrize("route", CONV_ROUTES)
@pytest.mark.parametrize("config", FIXED_CONFIGS, ids=str)
def test_conv2d_matches_torch_edge_config(routes, config, route, torch_check):
    use_conv_route(routes, route)
    check_conv(dict(config, batch=3, in_channels=2, out_channels=4), 7, torch_check)


@pytest.mark.parametrize("kernel", [2, 4, (2, 5)])
def test_same_padding_keeps_size(kernel):
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 7))
    assert cn.Conv2d(3, 5, kernel, padding="same", dtype=np.float64, rng=0)(x).shape == (2, 5, 6, 7)


def test_empty_output_raises_value_error_naming_layer():
    layer = cn.Conv2d(2, 3, (4, 2), stride=2, padding=(1, 0))
    with pytest.raises(ValueError, match=r"Conv2d\(2→3, k=4x2.*smaller than the kernel"):
        layer(np.zeros((1, 2, 1, 5), dtype=np.float32))
    with pytest.raises(RuntimeError):  # torch refuses it too
        torch.nn.Conv2d(2, 3, (4, 2), 2, (1, 0))(torch.zeros(1, 2, 1, 5))


def test_bias_false_has_no_bias_parameter():
    layer = cn.Conv2d(2, 3, 3, bias=False, rng=0)
    assert layer.bias is None
    assert [p.name for p in layer.parameters()] == ["weight"]


def test_skipping_the_first_layers_dx_keeps_weight_grads():
    """``Sequential.backward(dy, input_grad=False)`` lets the engine skip the first conv's dx."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6))
    model = cn.Sequential(cn.Conv2d(3, 4, 3, dtype=np.float64, rng=0))
    dy = rng.standard_normal(model(x).shape)
    full_dx = model.backward(dy)
    weight_grad = model[0].weight.grad.copy()
    model(x)
    assert model.backward(dy, input_grad=False) is None
    np.testing.assert_array_equal(model[0].weight.grad, weight_grad)
    assert full_dx.shape == x.shape


# ---- initialisation -------------------------------------------------------------------------
def test_default_init_is_torch_kaiming_uniform():
    in_channels, kernel = 16, (3, 5)
    layer = cn.Conv2d(in_channels, 256, kernel, rng=0)
    bound = 1 / math.sqrt(in_channels * kernel[0] * kernel[1])
    weight, bias = layer.weight.data, layer.bias.data
    assert weight.shape == (256, 16, 3, 5) and weight.dtype == np.float32
    assert np.abs(weight).max() <= bound and np.abs(bias).max() <= bound
    assert abs(weight.std() - bound / math.sqrt(3)) < 0.1 * bound / math.sqrt(3)
    assert abs(weight.mean()) < 0.05 * bound
    assert np.abs(weight).max() > 0.95 * bound  # fills the interval (uniform, not normal)
    # uniform: each quarter of [-bound, bound] holds about a quarter of the values
    counts, _ = np.histogram(weight, bins=4, range=(-bound, bound))
    assert np.all(np.abs(counts / weight.size - 0.25) < 0.02), counts


def test_rng_seed_is_reproducible():
    a, b, c = (cn.Conv2d(3, 4, 3, rng=seed) for seed in (0, 0, 1))
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(a.weight.data, c.weight.data)


def test_float64_layer_has_float64_parameters():
    layer = cn.Conv2d(3, 4, 3, dtype=np.float64, rng=0)
    assert layer.weight.dtype == layer.bias.dtype == np.float64
    assert layer.weight.grad.dtype == np.float64


@pytest.mark.parametrize("route, channels",
                         [("windows", 2), ("windows", 6), ("band-narrow", 2), ("band-wide", 6)],
                         ids=["transposed layout", "row layout", "narrow bands", "wide bands"])
@pytest.mark.parametrize("chunk_bytes", [1, 3000, 40000])  # 40000: chunks of 3 and 2 images (row layout)
def test_window_matrix_built_in_chunks_gives_the_same_result(routes, chunk_bytes, route, channels):
    """Big batches build the window (or band) matrix in pieces of images; any chunking must agree."""
    from convnp import fast
    from convnp import functional as conv

    use_conv_route(routes, route, chunk_bytes=chunk_bytes)  # 1 byte: one image per chunk, never whole
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((5, channels, 9, 8)), rng.standard_normal((4, channels, 3, 2))
    b = rng.standard_normal(4)
    y, cache = fast.conv2d_forward(x, w, b, stride=(2, 1), padding=1)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = fast.conv2d_backward(dy, cache)
    dx0, dw0, db0 = conv.conv2d_backward_naive(dy, x, w, stride=(2, 1), padding=1)
    np.testing.assert_allclose(y, conv.conv2d_forward_naive(x, w, b, stride=(2, 1), padding=1), atol=1e-12)
    for got, want in ((dx, dx0), (dw, dw0), (db, db0)):
        np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize("route, channels", [("windows", 2), ("windows", 8), ("band-narrow", 2)],
                         ids=["transposed layout", "row layout", "bands"])
@pytest.mark.parametrize("phase", ["forward", "backward"])
def test_chunked_window_matrix_is_never_whole_in_memory(routes, phase, route, channels):
    """With chunking on, forward and backward hold a few chunks at most, never the whole matrix
    (a regression: forward once kept every chunk in a list — 151 MB for cifar-small's second conv)."""
    import tracemalloc

    from convnp.fast import conv

    use_conv_route(routes, route, chunk_bytes=1)  # one image per chunk, never whole
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((32, channels, 16, 16)), rng.standard_normal((2, channels, 3, 3))
    rows, numbers = (16 * 16, 9 * channels) if route == "windows" else (16 * 8, 3 * 4 * channels + 1)  # B = 2
    whole = x.shape[0] * rows * numbers * x.itemsize  # the full window or band matrix: 0.8-4.7 MB
    y, cache = conv.conv2d_forward(x, w, padding=1)
    assert cache.columns is None  # not kept: backward rebuilds it chunk by chunk
    tracemalloc.start()
    try:
        if phase == "forward":
            conv.conv2d_forward(x, w, padding=1)
        else:
            conv.conv2d_backward(np.ones_like(y), cache, need_input_grad=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < whole / 3, f"{phase} peaked at {peak} bytes; the whole window matrix is {whole}"


@pytest.mark.parametrize("route, channels, padding, shape",
                         [("windows", 2, 1, (144, 19)), ("windows", 8, 0, (64, 72)),
                          ("band-wide", 2, 1, (24, 49))],
                         ids=["transposed", "rows", "bands"])
def test_small_window_matrix_is_built_whole_and_kept(routes, monkeypatch, route, channels, padding, shape):
    """Below KEEP_COLUMNS_BYTES forward keeps the matrix, and backward does not rebuild it."""
    from convnp.fast import conv
    from convnp.functional import conv2d_backward_naive

    use_conv_route(routes, route)
    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((4, channels, 6, 6)), rng.standard_normal((3, channels, 3, 3))
    y, cache = conv.conv2d_forward(x, w, padding=padding)
    assert cache.columns is not None and cache.columns.shape == shape  # small: kept
    monkeypatch.setattr(conv, "column_chunks", None)  # backward must not rebuild the matrix
    monkeypatch.setattr(conv, "transposed_chunks", None)
    monkeypatch.setattr(conv, "band_chunks", None)
    dx, dw, _ = conv.conv2d_backward(np.ones_like(y), cache, need_input_grad=False)
    np.testing.assert_allclose(dw, conv2d_backward_naive(np.ones_like(y), x, w, padding=padding)[1])


# kernel, padding: 'same' (even and odd), valid, padding wider than the kernel, asymmetric pairs
STRIDE1_CASES = [(3, 1), (4, "same"), ((2, 3), "same"), (3, 0), (1, 2), ((3, 1), (4, 0)), (5, (1, 3))]


@pytest.mark.parametrize("kernel, padding", STRIDE1_CASES, ids=str)
@pytest.mark.parametrize("dx_route", DX_ROUTES)
@pytest.mark.parametrize("channels_last", [False, True])
def test_stride1_backward_every_route_matches_the_loops(routes, kernel, padding, dx_route, channels_last):
    """A stride-1 conv's dx and dW come from a full correlation of dy, or dW from the input's
    window matrix and dx by rows, per-offset products or one product then a scatter; each must
    equal the loop oracle, for NCHW and channels-last inputs, with and without dx."""
    from convnp import fast as conv
    from convnp.functional import conv2d_backward_naive, conv2d_forward_naive

    use_conv_route(routes, "windows", dx=dx_route, chunk_bytes=1)  # several chunks of images
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 7, 6, 5)).transpose(0, 3, 1, 2)  # (N, C, H, W) view, channels-last
    w, b = rng.standard_normal((4, 5) + as_pair(kernel)), rng.standard_normal(4)
    if not channels_last:
        x = np.ascontiguousarray(x)
    y, cache = conv.conv2d_forward(x, w, b, stride=1, padding=padding)
    dy = rng.standard_normal(y.shape)
    dx, dw, db = conv.conv2d_backward(dy, cache)
    dx0, dw0, db0 = conv2d_backward_naive(dy, x, w, padding=padding)
    np.testing.assert_allclose(y, conv2d_forward_naive(x, w, b, padding=padding), atol=1e-12)
    for got, want in ((dx, dx0), (dw, dw0), (db, db0)):
        np.testing.assert_allclose(got, want, atol=1e-12)
    none, dw_alone, _ = conv.conv2d_backward(dy, cache, need_input_grad=False)
    assert none is None
    np.testing.assert_allclose(dw_alone, dw0, atol=1e-12)
