"""The real datasets (via ``CONVNP_DATA``, else ``<repo>/../shared/data``): known shapes, counts, means."""

import gzip
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

import convnp as cn
from convnp.datasets.idx import read_idx

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("CONVNP_DATA") or REPO.parent / "shared" / "data").absolute()

needs_data = pytest.mark.skipif(
    not (DATA / "mnist").is_dir(),
    reason=f"real datasets not found at {DATA} (set CONVNP_DATA to the folder holding mnist/, cifar10/ …)",
)

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(autouse=True)
def data_root(monkeypatch):
    monkeypatch.setenv("CONVNP_DATA", str(DATA))


def check_arrays(splits, shapes):
    for (x, y), shape in zip(splits, shapes, strict=True):
        assert x.shape == shape and x.dtype == np.float32 and x.flags.c_contiguous
        assert y.shape == shape[:1] and y.dtype == np.int64
        assert x.min() == 0.0 and x.max() == 1.0


@needs_data
@pytest.mark.parametrize(
    "name, train_counts, test_counts, means",
    [
        ("mnist", MNIST_TRAIN_COUNTS, MNIST_TEST_COUNTS, (33.3184, 33.7912)),
        ("fashion-mnist", [6000] * 10, [1000] * 10, (72.9404, 73.1466)),
    ],
)
def test_mnist_layout_facts(name, train_counts, test_counts, means):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # canonical copies: no ChecksumWarning
        (x_train, y_train), (x_test, y_test) = cn.datasets.load(name)
    check_arrays([(x_train, y_train), (x_test, y_test)], [(60000, 1, 28, 28), (10000, 1, 28, 28)])
    assert np.bincount(y_train).tolist() == train_counts
    assert np.bincount(y_test).tolist() == test_counts
    assert x_train.mean(dtype=np.float64) * 255 == pytest.approx(means[0], abs=1e-4)
    assert x_test.mean(dtype=np.float64) * 255 == pytest.approx(means[1], abs=1e-4)
    assert cn.datasets.status(name).verified == "ok"


@pytest.fixture(scope="module")
def cifar10():
    """CIFAR-10 loaded once (about 3 s), with the warnings it emitted."""
    if not (DATA / "cifar10").is_dir():
        pytest.skip(f"CIFAR-10 not found at {DATA / 'cifar10'}")
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        splits = cn.datasets.load("cifar10", root=DATA)
    return splits, record


def test_cifar10_facts(cifar10):
    ((x_train, y_train), (x_test, y_test)), _ = cifar10
    check_arrays([(x_train, y_train), (x_test, y_test)], [(50000, 3, 32, 32), (10000, 3, 32, 32)])
    assert np.bincount(y_train).tolist() == [5000] * 10
    assert np.bincount(y_test).tolist() == [1000] * 10


def test_cifar10_shared_copy_warns_once(cifar10):
    _, record = cifar10
    checksum_warnings = [item for item in record if issubclass(item.category, cn.datasets.ChecksumWarning)]
    assert len(checksum_warnings) == 1, [str(item.message) for item in record]
    message = str(checksum_warnings[0].message)
    assert "cifar-10-python.tar.gz" in message and "validated structurally" in message and "\n" not in message


@needs_data
def test_real_non_canonical_and_uncompressed_copies(tmp_path):
    """Re-gzipped labels (new mtime): warning, loads; uncompressed images: verified, no warning."""
    source, copy = DATA / "mnist", tmp_path / "mnist"
    copy.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"):
        (copy / name).symlink_to(source / name)
    labels = gzip.decompress((source / "t10k-labels-idx1-ubyte.gz").read_bytes())
    (copy / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels, mtime=1234567890))
    images = gzip.decompress((source / "t10k-images-idx3-ubyte.gz").read_bytes())
    (copy / "t10k-images-idx3-ubyte").write_bytes(images)
    with pytest.warns(cn.datasets.ChecksumWarning) as record:
        _, (x_test, y_test) = cn.datasets.load("mnist", root=tmp_path)
    assert len(record) == 1 and "t10k-labels-idx1-ubyte.gz" in str(record[0].message)
    assert "t10k-images" not in str(record[0].message)
    assert np.bincount(y_test).tolist() == MNIST_TEST_COUNTS
    assert x_test.mean(dtype=np.float64) * 255 == pytest.approx(33.7912, abs=1e-4)


@needs_data
def test_mnist_sample_is_the_split_t10k():
    (x_train, y_train), (x_test, y_test) = cn.datasets.load("mnist-sample")
    check_arrays([(x_train, y_train), (x_test, y_test)], [(8000, 1, 28, 28), (2000, 1, 28, 28)])
    labels = read_idx(DATA / "mnist" / "t10k-labels-idx1-ubyte.gz", ndim=1)
    assert np.bincount(y_train, minlength=10).tolist() == np.bincount(labels[:8000], minlength=10).tolist()
    assert np.bincount(y_test, minlength=10).tolist() == np.bincount(labels[8000:], minlength=10).tolist()
    assert (np.bincount(y_train) + np.bincount(y_test)).tolist() == MNIST_TEST_COUNTS
    images = read_idx(DATA / "mnist" / "t10k-images-idx3-ubyte.gz", ndim=3)
    np.testing.assert_array_equal(np.rint(x_test[:, 0] * 255), images[8000:])
