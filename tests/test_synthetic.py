"""The synthetic oriented-bars task used by the README and the learning tests."""

import numpy as np
import pytest

from convnp.datasets import BAR_CLASSES, make_bars


def test_shapes_dtypes_and_range():
    x, y = make_bars(300, size=12, rng=0)
    assert x.shape == (300, 1, 12, 12) and x.dtype == np.float32
    assert y.shape == (300,) and y.dtype == np.int64
    assert x.min() >= 0 and x.max() <= 1
    assert set(np.unique(y)) == set(range(len(BAR_CLASSES)))


def test_seed_reproducible_and_varies():
    a, b, c = make_bars(50, rng=3), make_bars(50, rng=3), make_bars(50, rng=4)
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


@pytest.mark.parametrize("label, step", [(0, (0, 1)), (1, (1, 0)), (2, (1, 1)), (3, (1, -1))])
def test_each_bar_has_the_labelled_orientation(label, step):
    x, y = make_bars(400, size=10, noise=0.0, length=4, rng=1)
    for image in x[y == label][:20, 0]:
        rows, cols = np.nonzero(image > 0.5)
        assert len(rows) == 4  # the whole bar lies inside the image
        order = np.argsort(rows * 100 + cols * step[1] if step[0] else cols)
        deltas = np.diff(np.stack([rows[order], cols[order]]), axis=1).T
        assert all(tuple(d) == step for d in deltas)


def test_bad_arguments():
    with pytest.raises(ValueError, match="make_bars"):
        make_bars(0)
    with pytest.raises(ValueError, match="size"):
        make_bars(10, size=2)
