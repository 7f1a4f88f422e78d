"""Data files: a typo is reported, not dropped; sizes are bounded before anything is decompressed."""

import gzip
import io
import struct
import tarfile
import tracemalloc

import pytest

from convnp.datasets import DatasetFormatError, cifar, load_csv
from convnp.datasets.idx import parse_idx
from convnp.datasets.mnist import parse_split


def idx_header(type_code, sizes):
    return bytes([0, 0, type_code, len(sizes)]) + struct.pack(f">{len(sizes)}I", *sizes)


def write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- CSV

def test_a_first_row_with_a_typo_is_data_and_its_cell_is_named(tmp_path):
    path = write(tmp_path / "d.csv", ["3,0,12,255,O", "1,1,2,3,4"])  # the letter O, not a zero
    with pytest.raises(DatasetFormatError, match=r"line 1, column 5: 'O' is not a number"):
        load_csv(path, (1, 2, 2))


def test_a_real_header_is_still_skipped(tmp_path):
    path = write(tmp_path / "d.csv", ["label,p1,p2,p3,p4", "3,0,12,255,0"])
    x, y = load_csv(path, (1, 2, 2))
    assert y.tolist() == [3] and x.shape == (1, 1, 2, 2)


@pytest.mark.parametrize("label", ["1e20", "-1", "2.5", "9223372036854775808", "3e9"])
def test_labels_that_are_not_class_indices_are_refused_not_wrapped(tmp_path, label):
    path = write(tmp_path / "d.csv", ["1,0,0,0,0", f"{label},0,0,0,0"])
    with pytest.raises(DatasetFormatError, match=r"non-negative integers .* line 2 has"):
        load_csv(path, (1, 2, 2))


@pytest.mark.parametrize("lines, message", [
    (["1,0,0,0,nan"], "not a number|non-finite"),
    (["1,0,0,0,inf"], "not a number|non-finite"),
    (["1,0,0,0,256"], "0-255"),
    (["1,0,0,0"], "line 1 has 4 columns, expected 5"),
    (["label,a,b,c,d"], "no data rows"),
])
def test_csv_problems_are_named(tmp_path, lines, message):
    with pytest.raises(DatasetFormatError, match=message):
        load_csv(write(tmp_path / "d.csv", lines), (1, 2, 2))


def test_a_binary_file_given_as_csv_is_refused(tmp_path):
    (tmp_path / "d.csv").write_bytes(b"\xff\xfe\x00binary")
    with pytest.raises(DatasetFormatError, match="not a text CSV"):
        load_csv(tmp_path / "d.csv", (1, 2, 2))


# ---------------------------------------------------------------- IDX

@pytest.mark.parametrize("sizes", [(2**32 - 1,) * 3, (2**31, 2**31, 4), (65536, 65536, 65536)])
def test_an_idx_header_whose_sizes_overflow_names_the_file(sizes):
    with pytest.raises(DatasetFormatError, match=r"images.idx: IDX header says shape"):
        parse_idx(idx_header(0x08, sizes) + b"\0" * 100, "images.idx")


def test_a_gzip_bomb_is_refused_without_decompressing_it_in_full():
    bomb = gzip.compress(idx_header(0x08, (10,)) + b"\0" * 50_000_000, compresslevel=9)  # 50 MB -> 50 KB
    tracemalloc.start()
    try:
        with pytest.raises(DatasetFormatError, match="trailing bytes"):
            parse_idx(bomb, "labels.gz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000, f"decompressing used {peak:,} bytes"


def test_a_split_bigger_than_expected_is_refused_from_its_header():
    images = gzip.compress(idx_header(0x08, (60000, 28, 28)))  # the training set's header, no body
    labels = gzip.compress(idx_header(0x08, (10,)) + bytes(10))
    with pytest.raises(DatasetFormatError, match="more than the 7,856 bytes expected"):
        parse_split(images, labels, ("img.gz", "lab.gz"), 10, (28, 28), 10)


@pytest.mark.parametrize("data", [b"\x1f\x8b", b"\x1f\x8b\x08\x00" + b"\0" * 20,
                                  gzip.compress(idx_header(0x08, (4,)) + bytes(4))[:-6]])
def test_corrupt_gzip_is_one_error(data):
    with pytest.raises(DatasetFormatError, match="x.gz"):
        parse_idx(data, "x.gz")


# ---------------------------------------------------------------- CIFAR

def tar_with(members):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, size in members:
            info = tarfile.TarInfo(f"{cifar.ARCHIVE_DIRECTORY}/{name}")
            info.size = size
            archive.addfile(info, io.BytesIO(b"\0" * size))
    return buffer.getvalue()


def test_a_cifar_member_larger_than_a_batch_is_refused_before_reading(monkeypatch):
    monkeypatch.setattr(cifar, "MAX_BATCH_BYTES", 1000)
    with pytest.raises(DatasetFormatError, match="data_batch_1 is 5,000 bytes, larger than any"):
        cifar.batches_from_archive(tar_with([("data_batch_1", 5000)]), "c.tar.gz")


def test_a_cifar_archive_that_unpacks_too_far_is_refused(monkeypatch):
    monkeypatch.setattr(cifar, "MAX_ARCHIVE_BYTES", 20_000)
    archive = tar_with([(f"junk{i}", 4000) for i in range(10)])
    with pytest.raises(DatasetFormatError, match="unpacks to more than 20,000 bytes"):
        cifar.batches_from_archive(archive, "c.tar.gz")


def test_an_oversized_extracted_batch_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(cifar, "MAX_BATCH_BYTES", 100)
    (tmp_path / "data_batch_1").write_bytes(b"\0" * 200)
    with pytest.raises(DatasetFormatError, match="larger than any CIFAR-10 batch"):
        cifar.batches_from_directory(tmp_path)


def test_a_dataset_file_far_too_large_is_refused_before_reading(tmp_path, monkeypatch):
    from convnp.datasets import loader

    monkeypatch.setattr(loader, "MAX_FILE_BYTES", 1000)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                 "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        (folder / name).write_bytes(b"\0" * 2000)
    with pytest.raises(DatasetFormatError, match="2,000 bytes, larger than any file"):
        loader.load("mnist", root=tmp_path)


@pytest.mark.parametrize("labels", [[3.5] * 10, [10**20] * 10, [2**64 + 1] * 10, ["1"] * 10, [[1, 2]] * 10])
def test_cifar_labels_that_are_not_small_integers_are_refused(monkeypatch, labels):
    import pickle

    monkeypatch.setattr(cifar, "BATCH_SIZE", 10)
    data = pickle.dumps({b"data": bytes(10 * 3072), b"labels": labels}, protocol=2)
    with pytest.raises(DatasetFormatError, match="labels"):
        cifar.parse_batch(data, "batch")
