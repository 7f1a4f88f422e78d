"""load/status/resolve_root on small crafted datasets: lookup order, messages, checksum policy."""

import dataclasses
import gzip
import hashlib
import os
import pickle
import struct
import warnings

import numpy as np
import pytest

import convnp as cn
from convnp.datasets import catalog, cifar

COUNTS = {"train": 20, "t10k": 10}


def idx_bytes(array):
    """Serialize a uint8 array as an IDX file (magic 0 0 8 ndim, big-endian uint32 sizes, values)."""
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def make_split(count, seed):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (count, 28, 28)).astype(np.uint8), np.arange(count) % 10


def tiny_mnist_files(mtime=0):
    """Canonical file name -> gzip bytes of a 20/10-image MNIST look-alike."""
    files = {}
    for seed, (prefix, count) in enumerate(COUNTS.items()):
        images, labels = make_split(count, seed)
        files[f"{prefix}-images-idx3-ubyte.gz"] = gzip.compress(idx_bytes(images), mtime=mtime)
        files[f"{prefix}-labels-idx1-ubyte.gz"] = gzip.compress(idx_bytes(labels), mtime=mtime)
    return files


@pytest.fixture
def tiny_mnist(monkeypatch):
    """Make "mnist" expect the tiny files (their SHA-256 is canonical); return the files."""
    files = tiny_mnist_files()
    sha256 = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    source = dataclasses.replace(catalog.SOURCES["mnist"], sha256=sha256, raw_sha256={}, counts=COUNTS,
                                 urls=())
    monkeypatch.setitem(catalog.SOURCES, "mnist", source)
    return files


def write_files(directory, files):
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (directory / name).write_bytes(data)


def test_names_info_and_unknown_name():
    assert cn.datasets.names() == ["mnist", "fashion-mnist", "cifar10", "mnist-sample"]
    fashion = cn.datasets.info("fashion-mnist")
    assert fashion.classes[0] == "T-shirt/top" and len(fashion.classes) == 10
    assert cn.datasets.info("cifar10").input_shape == (3, 32, 32)
    assert cn.datasets.info("cifar10").classes[0] == "airplane"
    assert cn.datasets.info("mnist").files[0] == "train-images-idx3-ubyte.gz"
    for function in (cn.datasets.load, cn.datasets.info, cn.datasets.status):
        with pytest.raises(ValueError, match="known datasets: mnist, fashion-mnist, cifar10, mnist-sample"):
            function("imagenet")


def test_resolve_root_order(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CONVNP_DATA", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    assert cn.datasets.resolve_root() == tmp_path / "home" / ".cache" / "convnp"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cn.datasets.resolve_root() == tmp_path / "xdg" / "convnp"
    monkeypatch.setenv("CONVNP_DATA", str(tmp_path / "env"))
    assert cn.datasets.resolve_root() == tmp_path / "env"
    assert cn.datasets.resolve_root(tmp_path / "arg") == tmp_path / "arg"
    assert cn.datasets.resolve_root(str(tmp_path / "arg")) == tmp_path / "arg"


def test_missing_files_error_says_what_to_put_where(monkeypatch, tmp_path):
    monkeypatch.setenv("CONVNP_DATA", str(tmp_path))
    with pytest.raises(cn.datasets.DatasetNotFoundError) as caught:
        cn.datasets.load("fashion-mnist")
    message = str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)
    assert str(tmp_path / "fashion-mnist") in message
    for name in cn.datasets.info("fashion-mnist").files:
        assert name in message
    assert "CONVNP_DATA" in message and "download=True" in message
    status = cn.datasets.status("cifar10")
    assert not status.found and status.verified == "missing: cifar-10-python.tar.gz"
    assert status.directory == str(tmp_path / "cifar10")


def test_canonical_files_load_without_warning(tiny_mnist, tmp_path):
    write_files(tmp_path / "mnist", tiny_mnist)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (x_train, y_train), (x_test, y_test) = cn.datasets.load("mnist", root=tmp_path)
    assert x_train.shape == (20, 1, 28, 28) and x_test.shape == (10, 1, 28, 28)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    images, labels = make_split(20, 0)
    np.testing.assert_allclose(x_train[:, 0] * 255, images, atol=1e-4)
    np.testing.assert_array_equal(y_train, labels)
    assert cn.datasets.status("mnist", root=tmp_path).verified == "ok"


def test_uncompressed_canonical_files_verify(tiny_mnist, tmp_path, monkeypatch):
    raw = {name: gzip.decompress(blob) for name, blob in tiny_mnist.items()}
    raw_sha256 = {name: hashlib.sha256(blob).hexdigest() for name, blob in raw.items()}
    source = dataclasses.replace(catalog.SOURCES["mnist"], raw_sha256=raw_sha256)
    monkeypatch.setitem(catalog.SOURCES, "mnist", source)
    write_files(tmp_path / "mnist", {name.removesuffix(".gz"): blob for name, blob in raw.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (x_train, _), _ = cn.datasets.load("mnist", root=tmp_path)
    assert x_train.shape == (20, 1, 28, 28)


def test_non_canonical_valid_copy_warns_once_and_loads(tiny_mnist, tmp_path):
    regzipped = tiny_mnist_files(mtime=12345)  # same content, different gzip header
    files = dict(tiny_mnist, **{"t10k-labels-idx1-ubyte.gz": regzipped["t10k-labels-idx1-ubyte.gz"]})
    write_files(tmp_path / "mnist", files)
    with pytest.warns(cn.datasets.ChecksumWarning) as record:
        (_, _), (x_test, y_test) = cn.datasets.load("mnist", root=tmp_path)
    assert len(record) == 1
    message = str(record[0].message)
    assert "t10k-labels-idx1-ubyte.gz" in message and "validated structurally" in message
    assert "\n" not in message
    assert y_test.shape == (10,)
    assert cn.datasets.status("mnist", root=tmp_path).verified == "non-canonical (validated)"


@pytest.mark.parametrize(
    "labels, message",
    [(np.full(10, 10), "label 10 is out of range 0-9"), (np.zeros(9), "expected 10 uint8 labels")],
    ids=["label-10", "wrong-count"],
)
def test_non_canonical_invalid_copy_is_refused(tiny_mnist, tmp_path, labels, message):
    files = dict(tiny_mnist, **{"t10k-labels-idx1-ubyte.gz": gzip.compress(idx_bytes(labels))})
    write_files(tmp_path / "mnist", files)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(cn.datasets.DatasetFormatError, match=message) as caught:
            cn.datasets.load("mnist", root=tmp_path)
    assert "t10k-labels-idx1-ubyte.gz" in str(caught.value)
    status = cn.datasets.status("mnist", root=tmp_path)
    assert status.found and status.verified.startswith("invalid: ") and message in status.verified


def test_mnist_sample_is_embedded_and_ignores_root(tmp_path, monkeypatch):
    monkeypatch.setenv("CONVNP_DATA", str(tmp_path))
    (x_train, y_train), (x_test, y_test) = cn.datasets.load("mnist-sample", root=tmp_path / "nowhere")
    assert x_train.shape == (8000, 1, 28, 28) and x_test.shape == (2000, 1, 28, 28)
    assert y_train.dtype == np.int64 and 0 <= x_train.min() and x_train.max() <= 1
    status = cn.datasets.status("mnist-sample")
    assert status.found and status.verified == "embedded"
    embedded = catalog.PACKAGE_DATA / "mnist-sample"
    assert status.directory == str(embedded)
    for name in cn.datasets.info("mnist-sample").files:
        digest = hashlib.sha256((embedded / name).read_bytes()).hexdigest()
        assert digest == catalog.SOURCES["mnist"].sha256[name]  # byte-identical to canonical t10k


class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"echo pwned > {self.marker}",)


def test_cifar_folder_and_archive_are_validated_and_malicious_pickles_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "BATCH_SIZE", 10)
    batch = {b"data": np.zeros((10, 3072), np.uint8), b"labels": list(range(10))}
    folder = tmp_path / "cifar10" / cifar.ARCHIVE_DIRECTORY
    names = (*cifar.TRAIN_BATCHES, cifar.TEST_BATCH)
    write_files(folder, {name: pickle.dumps(batch, protocol=2) for name in names})
    with pytest.warns(cn.datasets.ChecksumWarning, match="cifar-10-batches-py/ is an extracted folder"):
        (x_train, y_train), (x_test, _) = cn.datasets.load("cifar10", root=tmp_path)
    assert x_train.shape == (50, 3, 32, 32) and x_test.shape == (10, 3, 32, 32)
    assert cn.datasets.status("cifar10", root=tmp_path).verified == "non-canonical (validated)"
    marker = tmp_path / "pwned"
    (folder / "data_batch_2").write_bytes(pickle.dumps({b"data": Evil(marker), b"labels": []}, protocol=2))
    with pytest.raises(cn.datasets.DatasetFormatError, match="data_batch_2.*forbidden"):
        cn.datasets.load("cifar10", root=tmp_path)
    assert not marker.exists()
    assert "forbidden" in cn.datasets.status("cifar10", root=tmp_path).verified
