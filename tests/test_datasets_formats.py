"""File-format parsers on crafted bytes: IDX, CIFAR-10 python batches (restricted unpickler), CSV."""

import gzip
import io
import os
import pickle
import struct
import tarfile

import numpy as np
import pytest

from convnp.datasets import DatasetFormatError, cifar, load_csv
from convnp.datasets.idx import parse_idx, read_idx


def idx_bytes(array, type_code=0x08, dtype=">u1"):
    """Serialize ``array`` as an IDX file: magic 0 0 type ndim, sizes (big-endian uint32), values."""
    array = np.asarray(array)
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(dtype).tobytes()


# ---------------------------------------------------------------- IDX

def test_idx_raw_and_gzip_give_the_same_array(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    raw, packed = tmp_path / "images-idx3-ubyte", tmp_path / "images-idx3-ubyte.gz"
    raw.write_bytes(idx_bytes(images))
    packed.write_bytes(gzip.compress(idx_bytes(images)))
    np.testing.assert_array_equal(read_idx(raw, ndim=3), images)
    np.testing.assert_array_equal(read_idx(packed, ndim=3), images)
    assert parse_idx(gzip.compress(idx_bytes(images))).shape == (2, 3, 4)


def test_idx_other_value_types_are_read_big_endian():
    values = np.array([1, -2, 300000], dtype=np.int32)
    parsed = parse_idx(idx_bytes(values, 0x0C, ">i4"))
    np.testing.assert_array_equal(parsed, values)
    assert parsed.dtype == np.int32


@pytest.mark.parametrize(
    "data, message",
    [
        (b"\x00\x00\x08", "magic"),
        (b"\x01\x00\x08\x01" + b"\x00" * 8, "magic"),
        (b"\x00\x00\x07\x01" + b"\x00" * 8, "magic"),
        (idx_bytes(np.zeros((2, 3), np.uint8)), "2 dimensions, expected 3"),
        (bytes([0, 0, 8, 0]), "0 dimensions"),
        (bytes([0, 0, 8, 3]) + b"\x00\x00\x00\x02", "header truncated"),
        (idx_bytes(np.zeros((2, 3, 4), np.uint8))[:-1], "truncated"),
        (idx_bytes(np.zeros((2, 3, 4), np.uint8)) + b"\x00", "trailing bytes"),
        (gzip.compress(idx_bytes(np.zeros((2, 3, 4), np.uint8)))[:-6], "gzip"),
    ],
    ids=["short", "nonzero-magic", "bad-type", "wrong-ndim", "zero-ndim", "short-header", "truncated",
         "extra", "truncated-gzip"],
)
def test_idx_rejects_malformed_files_naming_them(tmp_path, data, message):
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(data)
    with pytest.raises(DatasetFormatError, match=message) as caught:
        read_idx(path, ndim=3)
    assert str(path) in str(caught.value)


# ---------------------------------------------------------------- CIFAR-10

class Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"echo pwned > {self.marker}",)


def test_restricted_unpickler_refuses_code_execution(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": Evil(marker), b"labels": [0]}, protocol=2)
    with pytest.raises(DatasetFormatError, match="forbidden") as caught:
        cifar.parse_batch(payload, "data_batch_1")
    assert "system" in str(caught.value)
    assert not marker.exists()


def test_restricted_unpickler_refuses_other_globals():
    payload = pickle.dumps({b"labels": [np.int64(3)]}, protocol=2)  # needs numpy.core.multiarray.scalar
    with pytest.raises(DatasetFormatError, match="forbidden"):
        cifar.unpickle_batch(payload, "test_batch")


@pytest.fixture
def small_batches(monkeypatch):
    """Batches of 10 images (BATCH_SIZE patched), labels 0-9, pixels = image index."""
    monkeypatch.setattr(cifar, "BATCH_SIZE", 10)

    def make(index, python3_bytes=False):
        pixels = np.repeat(np.arange(10, dtype=np.uint8) + 10 * index, 3072).reshape(10, 3072)
        data = pixels.tobytes() if python3_bytes else pixels
        return pickle.dumps({b"batch_label": b"b", b"data": data, b"labels": list(range(10))}, protocol=2)

    names = (*cifar.TRAIN_BATCHES, cifar.TEST_BATCH)
    return {name: make(index, python3_bytes=index % 2 == 1) for index, name in enumerate(names)}


def tar_gz(batches):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in batches.items():
            member = tarfile.TarInfo(f"{cifar.ARCHIVE_DIRECTORY}/{name}")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def test_cifar_batches_from_archive_and_directory(tmp_path, small_batches):
    from_archive = cifar.batches_from_archive(tar_gz(small_batches), "archive")
    folder = tmp_path / cifar.ARCHIVE_DIRECTORY
    folder.mkdir()
    for name, data in small_batches.items():
        (folder / name).write_bytes(data)
    assert from_archive == cifar.batches_from_directory(folder) == small_batches
    (x_train, y_train), (x_test, y_test) = cifar.parse_batches(from_archive, "archive")
    assert x_train.shape == (50, 3, 32, 32) and x_test.shape == (10, 3, 32, 32)
    assert x_train.dtype == np.float32 and y_train.dtype == np.int64
    np.testing.assert_allclose(x_train[11, :, 5, 7], 11 / 255)  # python-3 bytes batch decoded too
    np.testing.assert_array_equal(y_test, np.arange(10))


def test_cifar_rejects_bad_labels_missing_batches_and_corrupt_archives(small_batches):
    bad = dict(small_batches)
    bad["test_batch"] = pickle.dumps({b"data": np.zeros((10, 3072), np.uint8), b"labels": [10] * 10})
    with pytest.raises(DatasetFormatError, match="test_batch: labels must be in 0-9"):
        cifar.parse_batches(bad, "x.tar.gz")
    del bad["data_batch_3"]
    with pytest.raises(DatasetFormatError, match="missing data_batch_3"):
        cifar.parse_batches(bad, "x.tar.gz")
    with pytest.raises(DatasetFormatError, match="x.tar.gz: corrupt or truncated"):
        cifar.batches_from_archive(tar_gz(small_batches)[:-100], "x.tar.gz")
    short = pickle.dumps({b"data": np.zeros((9, 3072), np.uint8), b"labels": [0] * 9})
    with pytest.raises(DatasetFormatError, match="10 x 3072 uint8"):
        cifar.parse_batch(short, "data_batch_1")


# ---------------------------------------------------------------- CSV

def write_csv(path, rows, header=None):
    lines = ([header] if header else []) + [",".join(str(value) for value in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("header", [None, "label," + ",".join(f"p{index}" for index in range(6))])
def test_load_csv_with_and_without_header(tmp_path, header):
    path = write_csv(tmp_path / "a.csv", [[3, 0, 51, 102, 153, 204, 255], [7, 255, 0, 0, 0, 0, 0]], header)
    x, y = load_csv(path, (1, 2, 3))
    assert x.shape == (2, 1, 2, 3) and x.dtype == np.float32 and y.dtype == np.int64
    np.testing.assert_array_equal(y, [3, 7])
    np.testing.assert_allclose(x[0].ravel(), [0, 0.2, 0.4, 0.6, 0.8, 1.0], rtol=1e-6)


def test_load_csv_label_in_last_column(tmp_path):
    path = write_csv(tmp_path / "a.csv", [[0, 255, 5], [255, 0, 9]])
    x, y = load_csv(path, (2,), label_column=-1)
    np.testing.assert_array_equal(y, [5, 9])
    np.testing.assert_array_equal(x, [[0, 1], [1, 0]])


@pytest.mark.parametrize(
    "rows, message",
    [
        ([[1, 2, 3], [1, 2]], "line 3 has 2 columns, expected 3"),
        ([[1, 2, 3], [1, "x", 3]], "line 3, column 2: 'x' is not a number"),
        ([[1, 2, 300]], "0-255"),
        ([[1.5, 2, 3]], "non-negative integers"),
        ([[-1, 2, 3]], "non-negative integers"),
        ([], "no data rows"),
    ],
)
def test_load_csv_errors_name_the_problem(tmp_path, rows, message):
    path = write_csv(tmp_path / "bad.csv", rows, header="label,a,b")
    with pytest.raises(DatasetFormatError, match=message) as caught:
        load_csv(path, (2,))
    assert "bad.csv" in str(caught.value)


def test_load_csv_line_numbers_count_the_header(tmp_path):
    path = write_csv(tmp_path / "bad.csv", [[1, 2, 3], [1, 2, 3, 4]], header="label,a,b")
    with pytest.raises(DatasetFormatError, match="line 3 has 4 columns"):
        load_csv(path, (2,))
