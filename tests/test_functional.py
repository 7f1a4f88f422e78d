"""Properties of convnp.functional: im2col/col2im adjointness and layout, fast == naive oracles."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import convnp.functional as F

PROPERTY_SETTINGS = settings(max_examples=50, deadline=None)


def _pair_or_int(values):
    return st.one_of(values, st.tuples(values, values))


def _as_pair(value):
    return value if isinstance(value, tuple) else (value, value)


@st.composite
def window_geometry(draw, max_pad=2, allow_same=False):
    """(x_shape, kernel (kh, kw), stride, padding) with a non-empty output.

    ``stride`` and ``padding`` are an int or a pair; with ``allow_same`` the padding may also be
    'same' (then stride is 1) or 'valid'.
    """
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    options = [_pair_or_int(st.integers(0, max_pad))]
    if allow_same:
        options.append(st.sampled_from(["same", "valid"]))
    padding = draw(st.one_of(*options))
    if padding == "same":
        stride, pads = 1, (kernel[0] - 1, kernel[1] - 1)
    else:
        stride = draw(_pair_or_int(st.integers(1, 3)))
        pads = (0, 0) if padding == "valid" else tuple(2 * p for p in _as_pair(padding))
    height = draw(st.integers(max(1, kernel[0] - pads[0]), 10))
    width = draw(st.integers(max(1, kernel[1] - pads[1]), 10))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), height, width)
    return shape, kernel, stride, padding


def _random(shape, seed, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


SEEDS = st.integers(0, 2**32 - 1)


# ---- im2col / col2im -------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(window_geometry(), SEEDS)
def test_col2im_is_the_adjoint_of_im2col(geometry, seed):
    shape, (kh, kw), stride, pad = geometry
    x = _random(shape, seed)
    columns = F.im2col(x, kh, kw, stride, pad)
    c = _random(columns.shape, seed + 1)
    left = np.sum(columns * c)
    right = np.sum(x * F.col2im(c, shape, kh, kw, stride, pad))
    np.testing.assert_allclose(left, right, rtol=1e-10, atol=1e-12)


@PROPERTY_SETTINGS
@given(window_geometry(), SEEDS)
def test_im2col_and_col2im_equal_their_naive_versions(geometry, seed):
    shape, (kh, kw), stride, pad = geometry
    x = _random(shape, seed)
    columns = F.im2col(x, kh, kw, stride, pad)
    np.testing.assert_array_equal(columns, F.im2col_naive(x, kh, kw, stride, pad))
    c = _random(columns.shape, seed + 1)
    np.testing.assert_allclose(F.col2im(c, shape, kh, kw, stride, pad),
                               F.col2im_naive(c, shape, kh, kw, stride, pad), rtol=0, atol=1e-12)


@PROPERTY_SETTINGS
@given(window_geometry(), SEEDS)
def test_im2col_layout_matches_torch_unfold(geometry, seed):
    """Rows (n, oh, ow), columns (c, kh, kw): unfold's (N, C*KH*KW, L) transposed and stacked."""
    shape, (kh, kw), stride, pad = geometry
    x = _random(shape, seed)
    unfolded = torch.nn.functional.unfold(torch.from_numpy(x), (kh, kw), padding=pad,
                                          stride=stride).numpy()  # (N, C*KH*KW, OH*OW)
    expected = unfolded.transpose(0, 2, 1).reshape(-1, unfolded.shape[1])  # (N*OH*OW, C*KH*KW)
    np.testing.assert_array_equal(F.im2col(x, kh, kw, stride, pad), expected)


def test_im2col_documented_element_formula():
    x = np.arange(2 * 3 * 5 * 4, dtype=np.float64).reshape(2, 3, 5, 4)
    (kh, kw), (sh, sw), (ph, pw) = (3, 2), (2, 1), (1, 0)
    col = F.im2col(x, kh, kw, (sh, sw), (ph, pw))
    x_padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    out_h, out_w = (5 + 2 * ph - kh) // sh + 1, (4 + 2 * pw - kw) // sw + 1
    assert col.shape == (2 * out_h * out_w, 3 * kh * kw)
    n, c, i, j, p, q = 1, 2, 1, 2, 2, 1
    assert col[(n * out_h + i) * out_w + j, (c * kh + p) * kw + q] == x_padded[n, c, i * sh + p,
                                                                               j * sw + q]


def test_im2col_keeps_float32():
    x = _random((2, 3, 6, 6), 0, np.float32)
    columns = F.im2col(x, 3, 3, 1, 1)
    assert columns.dtype == np.float32
    assert F.col2im(columns, x.shape, 3, 3, 1, 1).dtype == np.float32


# ---- convolution -----------------------------------------------------------------------------
@PROPERTY_SETTINGS
@given(window_geometry(allow_same=True), st.integers(1, 3), st.booleans(), SEEDS)
def test_conv2d_fast_equals_naive(geometry, out_channels, has_bias, seed):
    shape, kernel, stride, padding = geometry
    x = _random(shape, seed)
    weight = _random((out_channels, shape[1], *kernel), seed + 1)
    bias = _random((out_channels,), seed + 2) if has_bias else None
    y, cache = F.conv2d_forward(x, weight, bias, stride, padding)
    np.testing.assert_allclose(y, F.conv2d_forward_naive(x, weight, bias, stride, padding),
                               rtol=0, atol=1e-12)
    dy = _random(y.shape, seed + 3)
    dx, dweight, dbias = F.conv2d_backward(dy, cache)
    dx_naive, dweight_naive, dbias_naive = F.conv2d_backward_naive(dy, x, weight, stride, padding,
                                                                   has_bias)
    np.testing.assert_allclose(dx, dx_naive, rtol=0, atol=1e-12)
    np.testing.assert_allclose(dweight, dweight_naive, rtol=0, atol=1e-12)
    if has_bias:
        np.testing.assert_allclose(dbias, dbias_naive, rtol=0, atol=1e-12)
    else:
        assert dbias is None and dbias_naive is None


# ---- pooling ---------------------------------------------------------------------------------
@st.composite
def pool_geometry(draw):
    """Pooling arguments with padding <= kernel // 2 (torch's limit) and a non-empty output."""
    kernel = (draw(st.integers(1, 5)), draw(st.integers(1, 5)))
    padding = (draw(st.integers(0, kernel[0] // 2)), draw(st.integers(0, kernel[1] // 2)))
    stride = draw(st.one_of(st.none(), _pair_or_int(st.integers(1, 3))))
    height = draw(st.integers(max(1, kernel[0] - 2 * padding[0]), 10))
    width = draw(st.integers(max(1, kernel[1] - 2 * padding[1]), 10))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), height, width)
    return shape, kernel, stride, padding


@PROPERTY_SETTINGS
@given(pool_geometry(), st.sampled_from(["gaussian", "ties"]), st.booleans(), SEEDS)
def test_max_pool_textbook_and_fast_equal_naive(geometry, values, gather_in_forward, seed):
    from convnp import fast

    shape, kernel, stride, padding = geometry
    rng = np.random.default_rng(seed)
    x = rng.integers(-1, 2, size=shape).astype(np.float64) if values == "ties" else _random(shape, seed)
    with fast.force_pool_route(gather=gather_in_forward):
        y_fast, fast_cache = fast.max_pool2d_forward(x, kernel, stride, padding)
    assert (fast_cache.windows is not None) == gather_in_forward
    y, cache = F.max_pool2d_forward(x, kernel, stride, padding)
    dy = rng.standard_normal(y.shape)
    dx_naive = F.pool2d_backward_naive(dy, x, kernel, stride, padding, mode="max")
    pairs = ((y, F.max_pool2d_backward(dy, cache)), (y_fast, fast.max_pool2d_backward(dy, fast_cache)))
    for output, dx in pairs:
        np.testing.assert_array_equal(output, F.pool2d_naive(x, kernel, stride, padding, mode="max"))
        np.testing.assert_allclose(dx, dx_naive, rtol=0, atol=1e-12)


@PROPERTY_SETTINGS
@given(window_geometry(), SEEDS)
def test_gather_offsets_element_formula_and_scatter_is_its_adjoint(geometry, seed):
    from convnp.fast.windows import gather_offsets, scatter_offsets

    shape, kernel, stride, padding = geometry
    stride = _as_pair(stride)
    n, c, h, w = shape
    hp, wp = h + 2 * _as_pair(padding)[0], w + 2 * _as_pair(padding)[1]
    out_hw = ((hp - kernel[0]) // stride[0] + 1, (wp - kernel[1]) // stride[1] + 1)
    padded = _random((n, hp, wp, c), seed, np.float32)
    gathered = gather_offsets(padded, kernel, stride, out_hw)  # (KH*KW, N, OH, OW, C)
    for p, q in [(0, 0), (kernel[0] - 1, kernel[1] - 1)]:
        for i, j in [(0, 0), (out_hw[0] - 1, out_hw[1] - 1)]:
            np.testing.assert_array_equal(gathered[p * kernel[1] + q, :, i, j],
                                          padded[:, i * stride[0] + p, j * stride[1] + q])
    values = _random(gathered.shape, seed + 1)
    scattered = scatter_offsets(values, padded.shape, kernel, stride, out_hw)
    np.testing.assert_allclose(np.sum(scattered * padded), np.sum(values * gathered), rtol=1e-6)


@PROPERTY_SETTINGS
@given(window_geometry(), st.booleans(), SEEDS)
def test_window_view_element_formula_on_contiguous_and_strided_arrays(geometry, strided, seed):
    from convnp.fast.windows import window_view

    shape, kernel, stride, padding = geometry
    (sh, sw), (ph, pw) = _as_pair(stride), _as_pair(padding)
    n, c, h, w = shape
    hp, wp = h + 2 * ph, w + 2 * pw
    out_hw = ((hp - kernel[0]) // sh + 1, (wp - kernel[1]) // sw + 1)
    padded = _random((n, hp, 2 * wp if strided else wp, c), seed)[:, :, ::2 if strided else 1]
    view = window_view(padded, kernel, (sh, sw), out_hw)  # (N, OH, OW, KH, KW, C)
    assert view.shape == (n, *out_hw, *kernel, c) and not view.flags.writeable
    expected = np.lib.stride_tricks.sliding_window_view(padded, kernel, axis=(1, 2))[:, ::sh, ::sw]
    np.testing.assert_array_equal(view, expected[:, :out_hw[0], :out_hw[1]].transpose(0, 1, 2, 4, 5, 3))


@PROPERTY_SETTINGS
@given(window_geometry(), SEEDS)
def test_columns_transposed_is_the_transposed_im2col_with_a_ones_row(geometry, seed):
    from convnp.fast.windows import columns_transposed

    shape, kernel, stride, padding = geometry
    (sh, sw), (ph, pw) = _as_pair(stride), _as_pair(padding)
    out_hw = ((shape[2] + 2 * ph - kernel[0]) // sh + 1, (shape[3] + 2 * pw - kernel[1]) // sw + 1)
    x = _random(shape, seed, np.float32)
    matrix = columns_transposed(x, kernel, (sh, sw), (ph, ph, pw, pw), out_hw, ones_row=True)
    expected = F.im2col_naive(x, kernel[0], kernel[1], stride, padding).T  # (C*KH*KW, N*OH*OW)
    np.testing.assert_array_equal(matrix[:-1], expected)
    np.testing.assert_array_equal(matrix[-1], 1)


def test_window_view_refuses_windows_that_leave_the_image():
    import pytest

    from convnp.fast.windows import window_view

    with pytest.raises(ValueError, match=r"window_view: \(3, 3\) windows of \(2, 2\) with stride \(2, 2\)"):
        window_view(np.zeros((1, 5, 5, 2)), (2, 2), (2, 2), (3, 3))  # needs 6 rows


def test_pixels_and_gather_offsets_reject_arrays_whose_channels_are_not_contiguous():
    import pytest

    from convnp.fast.windows import gather_offsets, pixels

    nchw = np.zeros((2, 3, 4, 4), np.float32)
    with pytest.raises(ValueError, match=r"pixels: the channel axis must be the last, contiguous axis.*"
                                         r"shape \(2, 4, 4, 3\)"):
        gather_offsets(nchw.transpose(0, 2, 3, 1), (2, 2), (2, 2), (2, 2))
    with pytest.raises(ValueError, match="channel axis"):
        pixels(np.float32(1.0))


@PROPERTY_SETTINGS
@given(pool_geometry(), SEEDS)
def test_avg_pool_fast_equals_naive(geometry, seed):
    shape, kernel, stride, padding = geometry
    x = _random(shape, seed)
    y, cache = F.avg_pool2d_forward(x, kernel, stride, padding)
    np.testing.assert_allclose(y, F.pool2d_naive(x, kernel, stride, padding, mode="avg"),
                               rtol=0, atol=1e-12)
    dy = _random(y.shape, seed + 1)
    np.testing.assert_allclose(F.avg_pool2d_backward(dy, cache),
                               F.pool2d_backward_naive(dy, x, kernel, stride, padding, mode="avg"),
                               rtol=0, atol=1e-12)


# ---- activations: functional forms ------------------------------------------------------------
@PROPERTY_SETTINGS
@given(st.integers(1, 6), st.integers(1, 6), SEEDS)
def test_log_softmax_equals_log_of_softmax(rows, cols, seed):
    x = _random((rows, cols), seed) * 10
    np.testing.assert_allclose(F.log_softmax(x), np.log(F.softmax(x)), rtol=0, atol=1e-12)


def test_the_textbook_convolution_fits_on_one_page():
    """DESIGN.md §3: conv2d_forward + conv2d_backward are at most 60 lines of code together,
    docstrings, comments and blank lines not counted."""
    import ast
    import inspect
    import io
    import tokenize

    def code_lines(function):
        source = inspect.getsource(function)
        tree = ast.parse(source)
        docstring = ast.get_docstring(tree.body[0], clean=False)
        body = tree.body[0].body
        skipped = set()
        if docstring is not None:  # the docstring's lines
            skipped.update(range(body[0].lineno, body[0].end_lineno + 1))
        lines = set()
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type not in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                                  tokenize.DEDENT, tokenize.ENDMARKER):
                lines.update(range(token.start[0], token.end[0] + 1))
        return len(lines - skipped)

    total = code_lines(F.conv2d_forward) + code_lines(F.conv2d_backward)
    assert total <= 60, f"conv2d_forward + conv2d_backward have {total} lines of code"
    assert inspect.getsourcefile(F.conv2d_forward) == inspect.getsourcefile(F.conv2d_backward)
    folder = inspect.getsourcefile(F.conv2d_forward).rsplit("/", 1)[0]
    assert inspect.getsourcefile(F.im2col).rsplit("/", 1)[0] == folder  # beside im2col / col2im
