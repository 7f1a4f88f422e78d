"""CIFAR-10, "python version": pickled batches in ``cifar-10-python.tar.gz``.

Each of ``data_batch_1`` … ``data_batch_5`` and ``test_batch`` is a protocol-2 pickle of a dict
with ``b'data'`` (10000 x 3072 uint8: 1024 red, 1024 green, 1024 blue values, each plane
row-major 32 x 32) and ``b'labels'`` (10000 ints in 0-9). See
https://www.cs.toronto.edu/~kriz/cifar.html.

This is the only place where convnp unpickles anything, and it does so with
:class:`RestrictedUnpickler`, which refuses every global except the handful that a batch needs.
"""

from __future__ import annotations

import codecs
import io
import pickle
import tarfile
import zlib
from pathlib import Path

import numpy as np

from .errors import DatasetFormatError

ARCHIVE_DIRECTORY = "cifar-10-batches-py"
TRAIN_BATCHES = tuple(f"data_batch_{index}" for index in range(1, 6))
TEST_BATCH = "test_batch"
BATCH_SIZE = 10000
NUM_CLASSES = 10
IMAGE_SHAPE = (3, 32, 32)
MAX_BATCH_BYTES = 40 * 2**20  # one batch pickle is 31 MB
MAX_ARCHIVE_BYTES = 256 * 2**20  # the whole archive unpacks to 178 MB

# numpy's array-unpickling function: numpy.core.multiarray._reconstruct in numpy 1,
# numpy._core.multiarray._reconstruct in numpy 2 (pickles name either module).
_RECONSTRUCT = np.empty(0).__reduce__()[0]

# The only globals a batch pickle may name: numpy arrays (data), and bytes from Python 3 pickles.
ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    ("_codecs", "encode"): codecs.encode,
}


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`ALLOWED_GLOBALS`; anything else is refused.

    A pickle can call any importable function while loading (``os.system`` via ``__reduce__``),
    so an unrestricted ``pickle.load`` of a downloaded file would run arbitrary code.
    """

    def find_class(self, module: str, name: str):
        try:
            return ALLOWED_GLOBALS[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(f"global '{module}.{name}' is forbidden in a CIFAR batch") from None


def unpickle_batch(data: bytes, source: str) -> dict:
    """Unpickle one batch with :class:`RestrictedUnpickler` (``encoding="bytes"``: keys are bytes)."""
    try:
        batch = RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as error:  # a malformed pickle can raise almost anything
        raise DatasetFormatError(f"{source}: not a valid CIFAR-10 batch ({error})") from None
    if not isinstance(batch, dict):
        raise DatasetFormatError(f"{source}: not a valid CIFAR-10 batch (a {type(batch).__name__})")
    return batch


def parse_batch(data: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse and check one batch.

    Returns
    -------
    pixels : ndarray, shape (10000, 3072), uint8
    labels : ndarray, shape (10000,), int64 in 0-9
    """
    batch = unpickle_batch(data, source)
    pixels, labels = batch.get(b"data"), batch.get(b"labels")
    if isinstance(pixels, bytes | bytearray):
        pixels = np.frombuffer(pixels, dtype=np.uint8)
    if not isinstance(pixels, np.ndarray) or pixels.dtype != np.uint8 or pixels.size != BATCH_SIZE * 3072:
        raise DatasetFormatError(f"{source}: b'data' must hold {BATCH_SIZE} x 3072 uint8 values")
    try:
        labels = np.asarray(labels)
    except (TypeError, ValueError):
        labels = np.asarray(None)
    if labels.dtype.kind not in "iu":  # floats would be truncated, huge ints wrap: refuse both
        raise DatasetFormatError(f"{source}: b'labels' must be a list of integers, got {labels.dtype}")
    if labels.shape != (BATCH_SIZE,):
        raise DatasetFormatError(f"{source}: expected {BATCH_SIZE} labels, found shape {labels.shape}")
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise DatasetFormatError(f"{source}: labels must be in 0-{NUM_CLASSES - 1}")
    return pixels.reshape(BATCH_SIZE, 3072), labels.astype(np.int64)


def batches_from_archive(data: bytes, source: str) -> dict[str, bytes]:
    """Read the batch files out of the bytes of ``cifar-10-python.tar.gz`` (nothing is extracted).

    Returns
    -------
    dict mapping batch name (``"data_batch_1"`` …, ``"test_batch"``) to the pickle's bytes
    """
    wanted = {f"{ARCHIVE_DIRECTORY}/{name}": name for name in (*TRAIN_BATCHES, TEST_BATCH)}
    batches = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:*") as archive:
            for member in archive:
                _check_member_size(member, source)
                if member.name in wanted and member.isfile():
                    batches[wanted[member.name]] = archive.extractfile(member).read()
    except (tarfile.TarError, OSError, EOFError, zlib.error) as error:
        raise DatasetFormatError(f"{source}: corrupt or truncated archive ({error})") from None
    return batches


def _check_member_size(member, source: str) -> None:
    """Refuse a member larger than a batch, or one that lies past the archive's real size.

    Checked from the tar header, before the member's data is decompressed.
    """
    if member.size > MAX_BATCH_BYTES and member.isfile():
        raise DatasetFormatError(f"{source}: {member.name} is {member.size:,} bytes, larger than "
                                 f"any CIFAR-10 batch ({MAX_BATCH_BYTES:,} at most)")
    if member.offset_data + member.size > MAX_ARCHIVE_BYTES:
        raise DatasetFormatError(f"{source}: the archive unpacks to more than "
                                 f"{MAX_ARCHIVE_BYTES:,} bytes; it is not cifar-10-python.tar.gz")


def batches_from_directory(directory) -> dict[str, bytes]:
    """Read the batch files of an extracted ``cifar-10-batches-py/`` directory (missing ones skipped)."""
    directory = Path(directory)
    batches = {}
    for name in (*TRAIN_BATCHES, TEST_BATCH):
        path = directory / name
        if path.is_file():
            if path.stat().st_size > MAX_BATCH_BYTES:
                raise DatasetFormatError(f"{path}: {path.stat().st_size:,} bytes, larger than any "
                                         f"CIFAR-10 batch ({MAX_BATCH_BYTES:,} at most)")
            batches[name] = path.read_bytes()
    return batches


def parse_batches(batches: dict[str, bytes], source: str):
    """Turn the six batches into arrays, checking that all are present and valid.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        x: float32, shape (50000, 3, 32, 32) / (10000, 3, 32, 32), in [0, 1]; y: int64 in 0-9
    """
    missing = [name for name in (*TRAIN_BATCHES, TEST_BATCH) if name not in batches]
    if missing:
        raise DatasetFormatError(f"{source}: missing {', '.join(missing)} in {ARCHIVE_DIRECTORY}/")
    train = [parse_batch(batches[name], f"{source}: {name}") for name in TRAIN_BATCHES]
    test_pixels, y_test = parse_batch(batches[TEST_BATCH], f"{source}: {TEST_BATCH}")
    train_pixels = np.concatenate([pixels for pixels, _ in train])  # (50000, 3072)
    y_train = np.concatenate([labels for _, labels in train])  # (50000,)
    return (to_images(train_pixels), y_train), (to_images(test_pixels), y_test)


def to_images(pixels: np.ndarray) -> np.ndarray:
    """(N, 3072) uint8 planes -> (N, 3, 32, 32) float32 in [0, 1]."""
    images = pixels.reshape(-1, *IMAGE_SHAPE)  # (N, 3, 32, 32): red, green, blue planes
    return np.divide(images, np.float32(255), dtype=np.float32)
