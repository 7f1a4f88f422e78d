"""The animations: final frames equal convnp.functional's arrays; GIFs have the promised frames."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import convnp as cn
import convnp.explain as explain
from convnp.explain.conv_backward import InputGradFrame, WeightGradFrame
from convnp.explain.im2col import ProductFrame, RowFrame

F = cn.functional
Image = pytest.importorskip("PIL.Image")
pytest.importorskip("matplotlib")

GEOMETRIES = [  # (size, kernel, stride, padding, channels)
    (6, 3, 1, 0, 1), (5, 3, 2, 1, 2), (7, 2, 3, 1, 1), (6, 4, 1, 2, 3), (4, 1, 1, 0, 1),
]


def assert_equal(actual, expected, what, atol=1e-12):
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape} != {expected.shape}"
    worst = np.max(np.abs(actual - expected), initial=0.0)
    assert worst <= atol, f"{what}: max difference {worst:.3g}"


def inputs(size, kernel, channels, out_channels=1, seed=0):
    x = explain.example_input(size, channels, seed, random=True)
    return x, explain.example_kernel(out_channels, channels, kernel, seed)


@pytest.mark.parametrize("size, kernel, stride, padding, channels", GEOMETRIES)
def test_conv_forward_last_frame_is_conv2d_forward(size, kernel, stride, padding, channels):
    x, weight = inputs(size, kernel, channels)
    story = explain.conv_forward_frames(x, weight, stride, padding)
    expected = F.conv2d_forward(x, weight, None, stride, padding)[0][0, 0]
    assert_equal(story.frames[-1].output, expected, "final output map", atol=0)
    for frame in story.frames:  # each frame's sum of products is the library's output there
        assert abs(frame.value - expected[frame.position]) <= 1e-12
        assert frame.products.shape == (channels, kernel, kernel)
    assert np.isnan(story.frames[0].output).sum() == expected.size - 1 - story.frames[0].step


@pytest.mark.parametrize("size, kernel, stride, padding, channels", GEOMETRIES)
def test_conv_backward_last_frames_are_conv2d_backward(size, kernel, stride, padding, channels):
    x, weight = inputs(size, kernel, channels)
    y, cache = F.conv2d_forward(x, weight, None, stride, padding)
    dy = explain.example_gradient(y.shape)
    dx, dweight, _ = F.conv2d_backward(dy, cache)
    story = explain.conv_backward_frames(x, weight, dy, stride, padding)
    weight_frames = [f for f in story.frames if isinstance(f, WeightGradFrame)]
    scatter_frames = [f for f in story.frames if isinstance(f, InputGradFrame)]
    assert_equal(weight_frames[-1].dweight, dweight[0], "dW")
    for frame in weight_frames:
        assert abs(frame.value - dweight[0][tuple(frame.index)]) <= 1e-12
    crop = (slice(None), slice(padding, padding + size), slice(padding, padding + size))
    assert_equal(scatter_frames[-1].dx_padded[crop], dx[0], "dx scattered")
    assert_equal(story.frames[-1].dx, dx[0], "dx as a full convolution")
    assert_equal(story.frames[-1].dx_padded, scatter_frames[-1].dx_padded, "full conv == scatter")


@pytest.mark.parametrize("size, kernel, stride, padding, channels",
                         [(6, 2, None, 0, 1), (6, 3, 2, 1, 2), (5, 3, 1, 1, 1), (7, 2, 3, 0, 1)])
def test_pool_last_frames_are_the_pooling_functions(size, kernel, stride, padding, channels):
    x = explain.example_input(size, channels, seed=1)  # an MNIST crop: many exact ties (zeros)
    max_y, max_cache = F.max_pool2d_forward(x, kernel, stride, padding)
    avg_y, avg_cache = F.avg_pool2d_forward(x, kernel, stride, padding)
    dy = explain.example_gradient(max_y.shape)
    story = explain.pool_frames(x, dy, kernel, stride, padding)
    last = {frame.phase: frame for frame in story.frames}
    assert_equal(last["max forward"].output, max_y[0], "max output", atol=0)
    assert last["max forward"].dx is None
    assert_equal(last["max backward"].dx, F.max_pool2d_backward(dy, max_cache)[0], "max dx")
    assert_equal(last["average"].output, avg_y[0], "avg output", atol=0)
    assert_equal(last["average"].dx, F.avg_pool2d_backward(dy, avg_cache)[0], "avg dx")
    for frame in story.frames:  # the highlighted pick is the window's first maximum
        for c, (row, col) in enumerate(frame.picks):
            window = frame.windows[c]
            assert window[row, col] == window.max()
            assert not (window.ravel()[:row * window.shape[1] + col] == window.max()).any()


def test_pool_shows_ties():
    story = explain.pool_frames(np.zeros((1, 1, 4, 4)), np.ones((1, 1, 2, 2)), 2)
    assert all(frame.ties[0] == 4 and tuple(frame.picks[0]) == (0, 0) for frame in story.frames)


@pytest.mark.parametrize("size, kernel, stride, padding, channels", GEOMETRIES)
def test_im2col_frames_build_the_library_layout(size, kernel, stride, padding, channels):
    x, weight = inputs(size, kernel, channels, out_channels=2)
    story = explain.im2col_frames(x, weight, stride, padding)
    columns = F.im2col(x, kernel, kernel, stride, padding)
    rows = [f for f in story.frames if isinstance(f, RowFrame)]
    assert_equal(rows[-1].columns, columns, "column matrix", atol=0)
    for frame in rows:
        assert_equal(frame.window.ravel(), columns[frame.step], f"row {frame.step}", atol=0)
    product = story.frames[-1]
    assert isinstance(product, ProductFrame)
    assert_equal(product.output, F.conv2d_forward(x, weight, None, stride, padding)[0][0], "output")


@pytest.mark.parametrize("name, options, expected", [
    ("conv-forward", {"size": 6, "kernel": 3}, 16),
    ("conv-forward", {"size": 10, "kernel": 3}, 36),  # 64 positions, capped
    ("conv-forward", {"size": 6, "kernel": 3, "stride": 2, "padding": 1}, 9),
    ("conv-backward", {"size": 5, "kernel": 3}, 9 + 9 + 1),
    ("conv-backward", {"size": 5, "kernel": 3, "channels": 2, "padding": 1}, 18 + 25 + 1),
    ("pool", {"size": 6, "kernel": 2}, 3 * 9),
    ("pool", {"size": 6, "kernel": 3, "stride": 1}, 3 * 16),
    ("im2col", {"size": 5, "kernel": 3}, 9 + 1),
    ("im2col", {"size": 9, "kernel": 2, "max_frames": 10}, 10 + 1),
])
def test_frame_count_rule(name, options, expected):
    assert explain.frame_count(name, random=True, **options) == expected  # no all-zero windows
    assert len(explain.make(name, random=True, **options).frames) == expected
    assert explain.frame_count(name, **options) == len(explain.make(name, **options).frames)  # MNIST


@given(st.integers(1, 400), st.integers(1, 60))
def test_frame_positions_are_distinct_and_keep_the_ends(total, cap):
    positions = explain.frame_positions(total, cap)
    assert len(positions) == min(total, cap) == len(set(positions))
    assert positions == sorted(positions) and positions[-1] == total - 1
    assert positions[0] == 0 or cap == 1


def test_mnist_crop_is_a_real_digit_rounded_to_two_decimals():
    crop = explain.mnist_crop(6, channels=2, seed=3)
    assert crop.shape == (1, 2, 6, 6) and crop.dtype == np.float64
    assert 0 <= crop.min() and crop.max() <= 1 and crop.std() > 0.1
    np.testing.assert_array_equal(crop, np.round(crop, 2))
    with pytest.raises(ValueError, match="28"):
        explain.mnist_crop(29)


def test_invalid_geometry_is_a_clear_value_error():
    with pytest.raises(ValueError, match="larger than the padded input"):
        explain.make("conv-forward", size=3, kernel=5)
    with pytest.raises(ValueError, match="stride"):
        explain.make("im2col", stride=0)


def test_training_callback_records_the_first_conv():
    model, snapshots = explain.record_training(images=256, epochs=1, every=2, filters=3)
    assert len(snapshots.frames) == explain.frame_count("training", images=256, epochs=1, every=2) == 5
    conv = model.layers[0]
    last = snapshots.frames[-1]
    np.testing.assert_array_equal(last.weight, conv.weight.data)
    maps = F.conv2d_forward(snapshots.probe, conv.weight.data, conv.bias.data)[0][0]
    assert_equal(last.feature_maps, maps, "feature maps", atol=1e-6)  # float32 model
    assert not np.array_equal(snapshots.frames[0].weight, last.weight)  # it learned something
    assert snapshots.frames[0].loss is None and last.step == 8


def read_gif(path):
    with Image.open(path) as gif:
        frames = []
        for index in range(gif.n_frames):
            gif.seek(index)
            frames.append(np.asarray(gif.convert("RGB")))
        return gif.size, frames


@pytest.mark.parametrize("name, options", [
    ("conv-forward", {"size": 4, "kernel": 3, "padding": 1, "max_frames": 5}),
    ("conv-backward", {"size": 3, "kernel": 2, "channels": 2, "max_frames": 3}),
    ("pool", {"size": 4, "kernel": 2, "max_frames": 2}),
    ("im2col", {"size": 4, "kernel": 3, "stride": 1}),
])
def test_gif_has_the_promised_frames(tmp_path, name, options):
    gif, png = explain.animate(name, tmp_path, fps=8, dpi=40, **options)
    size, frames = read_gif(gif)
    assert len(frames) == explain.frame_count(name, **options)
    assert 150 <= size[0] <= 1200 and 100 <= size[1] <= 900, size
    assert not np.array_equal(frames[0], frames[-1])
    assert all(not np.array_equal(a, b) for a, b in zip(frames, frames[1:], strict=False))
    with Image.open(png) as still:
        assert still.size == size


def test_training_gif(tmp_path):
    _, snapshots = explain.record_training(images=128, epochs=1, every=2, filters=2)
    gif, png = explain.render_training(snapshots, tmp_path / "training.gif", dpi=30)
    size, frames = read_gif(gif)
    assert len(frames) == 3 and not np.array_equal(frames[0], frames[-1])


def test_conv_forward_starts_where_the_kernel_meets_ink():
    x = np.zeros((1, 1, 8, 8))
    x[0, 0, 4:7, 3:6] = 0.5  # a blot of ink; every window above row 2 sees only zeros
    weight = explain.example_kernel(1, 1, 3)
    story = explain.conv_forward_frames(x, weight, 1, 1)
    first = story.frames[0]
    assert np.abs(first.products).max() >= 0.005 and first.step == story.first_ink
    assert first.step >= 3 * 8 + 2  # no earlier window reaches the blot
    products = np.abs(F.im2col(x, 3, 3, 1, 1) * weight[0].reshape(1, -1))  # (64, 9)
    assert products[:first.step].max() < 0.005  # every skipped window shows only zeros
    assert len(story.frames) == min(64 - first.step, 36)
    assert_equal(story.frames[-1].output, F.conv2d_forward(x, weight, None, 1, 1)[0][0, 0], "output", atol=0)
    assert not np.isnan(first.output[:3]).any()  # the skipped all-zero windows' outputs are shown


def test_explain_grids_draw_pixels_white_on_black():
    import matplotlib

    matplotlib.use("Agg")
    from convnp.explain.render import draw_grid
    from convnp.viz._figure import new_figure

    figure = new_figure(2, 1)
    axes = figure.add_axes((0, 0, 1, 1))
    draw_grid(axes, np.array([[0.0, 1.0]]), "pixels", limit=1.0, signed=False, annotate=False)
    cmap, norm = axes.images[0].cmap, axes.images[0].norm
    assert cmap(norm(1.0))[:3] == pytest.approx((1, 1, 1)) and cmap(norm(0.0))[:3] == pytest.approx((0, 0, 0))
