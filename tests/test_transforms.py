"""Batch transforms: shapes, dtype, seeded reproducibility, a real mirror, crop offsets, Normalize's
arithmetic, input left untouched, use inside fit, and named errors."""

import re

import numpy as np
import pytest

import convnp as cn
from convnp.datasets import transforms as T


def batch(shape=(6, 3, 8, 7), dtype=np.float32, seed=0):
    return np.random.default_rng(seed).random(shape).astype(dtype)


ALL = [T.RandomCrop(6, padding=2), T.RandomCrop((8, 5)), T.RandomHorizontalFlip(),
       T.Normalize([0.5, 0.4, 0.3], [0.2, 0.25, 0.3]),
       T.Compose([T.RandomCrop((8, 7), padding=3), T.RandomHorizontalFlip(0.3)])]


@pytest.mark.parametrize("transform", ALL, ids=repr)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_kept_input_untouched_and_seeded(transform, dtype):
    x = batch(dtype=dtype)
    original = x.copy()
    a = transform(x, np.random.default_rng(7))
    b = transform(x, np.random.default_rng(7))
    np.testing.assert_array_equal(x, original)
    assert a.dtype == dtype and a is not x and not np.shares_memory(a, x)
    np.testing.assert_array_equal(a, b)
    assert a.shape[:2] == x.shape[:2]


def test_crop_shapes_and_padding_zero_full_size_is_identity():
    x = batch()
    assert T.RandomCrop(5, padding=1)(x, 0).shape == (6, 3, 5, 5)
    assert T.RandomCrop((3, 9), padding=1)(x, 0).shape == (6, 3, 3, 9)
    np.testing.assert_array_equal(T.RandomCrop((8, 7))(x, 0), x)


def test_crop_is_a_window_of_the_padded_image_and_offsets_cover_the_range():
    """Every output image equals the padded input at some offset; all offsets occur."""
    rng = np.random.default_rng(1)
    count, pad, size = 400, 2, 5
    x = rng.random((count, 2, 5, 5))  # distinct values: the offset is recoverable
    out = T.RandomCrop(size, padding=pad)(x, rng)
    padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    seen = set()
    for n in range(count):
        matches = [(top, left) for top in range(2 * pad + 1) for left in range(2 * pad + 1)
                   if np.array_equal(out[n], padded[n, :, top:top + size, left:left + size])]
        assert len(matches) == 1, n
        seen.add(matches[0])
    assert seen == {(top, left) for top in range(5) for left in range(5)}


def test_crop_draws_offsets_per_image():
    x = np.broadcast_to(np.arange(10.0), (64, 1, 10, 10)).copy()  # every image the same
    out = T.RandomCrop((10, 4))(x, 3)
    assert len({row[0, 0, 0] for row in out}) == 7  # left offsets 0..6 all drawn


def test_flip_really_mirrors_about_half_the_images():
    x = batch((2000, 1, 2, 3))
    out = T.RandomHorizontalFlip()(x, 0)
    flipped = np.all(out == x[..., ::-1], axis=(1, 2, 3))
    kept = np.all(out == x, axis=(1, 2, 3))
    assert np.all(flipped ^ kept)
    assert abs(flipped.mean() - 0.5) < 0.05
    np.testing.assert_array_equal(T.RandomHorizontalFlip(1.0)(x, 0), x[..., ::-1])
    np.testing.assert_array_equal(T.RandomHorizontalFlip(0.0)(x, 0), x)


def test_normalize_matches_manual_computation():
    x = batch(dtype=np.float64)
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    expected = np.stack([(x[:, c] - mean[c]) / std[c] for c in range(3)], axis=1)
    np.testing.assert_allclose(T.Normalize(mean, std)(x), expected, rtol=1e-14)
    np.testing.assert_allclose(T.Normalize(0.5, 2.0)(x), (x - 0.5) / 2, rtol=1e-14)


def test_normalize_from_data_standardises_each_channel():
    x = (batch((50, 3, 4, 4)) * np.array([1, 2, 3]).reshape(1, 3, 1, 1) + 5).astype(np.float32)
    normalize = T.Normalize.from_data(x)
    np.testing.assert_allclose(normalize.mean, x.astype(np.float64).mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(normalize.std, x.astype(np.float64).std(axis=(0, 2, 3)), rtol=1e-12)
    out = normalize(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(out.std(axis=(0, 2, 3)), 1, atol=1e-5)


def test_compose_applies_in_order_with_one_generator():
    x = batch()
    crop, flip = T.RandomCrop(6, padding=1), T.RandomHorizontalFlip()
    rng = np.random.default_rng(4)
    expected = flip(crop(x, rng), rng)
    np.testing.assert_array_equal(T.Compose([crop, flip])(x, np.random.default_rng(4)), expected)
    expected_repr = "Compose([RandomCrop(size=6, padding=1), RandomHorizontalFlip(p=0.5)])"
    assert repr(T.Compose([crop, flip])) == expected_repr


def test_works_as_fit_augment():
    x = batch((40, 1, 6, 6))
    y = np.arange(40) % 2
    model = cn.Sequential(cn.Conv2d(1, 2, 3, rng=0), cn.BatchNorm2d(2), cn.ReLU(), cn.GlobalAvgPool2d(),
                          cn.Linear(2, 2, rng=0))
    seen = []

    def augment(batch_x, rng):
        seen.append(batch_x.shape)
        return T.Compose([T.RandomCrop(6, padding=1), T.RandomHorizontalFlip()])(batch_x, rng)

    history = model.fit(x, y, loss=cn.CrossEntropyLoss(), optimizer=cn.optim.SGD(model.parameters(), lr=0.1),
                        epochs=2, batch_size=16, seed=0, verbose=False, augment=augment,
                        validation_data=(x, y))
    assert seen == [(16, 1, 6, 6), (16, 1, 6, 6), (8, 1, 6, 6)] * 2  # training batches only
    assert len(history.history["val_loss"]) == 2


@pytest.mark.parametrize("transform", ALL, ids=repr)
def test_bad_input_is_named(transform):
    first = transform.transforms[0] if isinstance(transform, T.Compose) else transform  # the failing one
    name = re.escape(repr(first).split("(")[0])
    with pytest.raises(ValueError, match=rf"{name}.*expected a batch of shape \(N, C, H, W\), got \(3, 8, 7"):
        transform(batch()[0], 0)
    with pytest.raises(TypeError, match=rf"{name}.*expected a floating-point batch"):
        transform(np.zeros((2, 3, 8, 7), dtype=np.uint8), 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match=re.escape("RandomCrop(size=9, padding=0): crop (9, 9) is larger")):
        T.RandomCrop(9)(batch(), 0)
    with pytest.raises(ValueError, match="RandomCrop: size must be"):
        T.RandomCrop(0)
    with pytest.raises(ValueError, match="RandomCrop: padding must be"):
        T.RandomCrop(4, padding=-1)
    with pytest.raises(ValueError, match="RandomHorizontalFlip: p must be"):
        T.RandomHorizontalFlip(2)
    with pytest.raises(ValueError, match="Normalize: std must be positive"):
        T.Normalize([0.5], [0.0])
    with pytest.raises(ValueError, match="Normalize: mean and std"):
        T.Normalize([0.5, 0.5], [1, 1, 1])
    with pytest.raises(ValueError, match=r"Normalize\(mean=\[0.5, 0.5\].*expected a batch with 2 channels"):
        T.Normalize([0.5, 0.5], [1, 1])(batch(), 0)
    with pytest.raises(ValueError, match=r"Normalize.from_data: channels \[1\] are constant"):
        T.Normalize.from_data(np.stack([batch((4, 5, 5)), np.ones((4, 5, 5), np.float32)], axis=1))
    with pytest.raises(TypeError, match="Compose: item 1 must be a transform"):
        T.Compose([T.RandomHorizontalFlip(), 3])
