"""IDX files (the MNIST format), gzip-compressed or raw.

An IDX file starts with a big-endian magic number ``0x00 0x00 <type> <ndim>``, then ``ndim``
big-endian uint32 sizes, then the values in row-major order. MNIST images are magic 2051
(ubyte, 3 dims: N, 28, 28), labels magic 2049 (ubyte, 1 dim: N). See
http://yann.lecun.com/exdb/mnist/ ("FILE FORMATS FOR THE MNIST DATABASE").
"""

from __future__ import annotations

import gzip
import io
import math
import zlib
from pathlib import Path

import numpy as np

from .errors import DatasetFormatError

GZIP_MAGIC = b"\x1f\x8b"

# Type byte of the magic number -> big-endian dtype of the values.
IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}


MAX_IDX_BYTES = 2**31  # any one IDX file (MNIST's largest is 47 MB uncompressed)


def decompress_if_gzip(data: bytes, source: str, limit: int = MAX_IDX_BYTES) -> bytes:
    """Return ``data`` gunzipped if it starts with the gzip magic bytes, else unchanged.

    At most ``limit`` bytes are decompressed: a larger stream (a gzip bomb) is refused after
    reading ``limit + 1`` bytes, never decompressed in full.
    """
    if not data.startswith(GZIP_MAGIC):
        return data[:limit + 1]
    try:
        with gzip.GzipFile(fileobj=io.BytesIO(data)) as stream:
            return stream.read(limit + 1)
    except (OSError, EOFError, zlib.error) as error:
        raise DatasetFormatError(f"{source}: corrupt or truncated gzip data ({error})") from None


def read_header(data: bytes, source: str, ndim: int | None):
    """(dtype, shape, header size) from the first bytes of an (uncompressed) IDX file."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in IDX_DTYPES:
        raise DatasetFormatError(f"{source}: not an IDX file (bad magic number {data[:4].hex()!r})")
    dtype, dims = IDX_DTYPES[data[2]], data[3]
    if dims == 0 or (ndim is not None and dims != ndim):
        expected = f"{ndim}" if ndim is not None else "at least 1"
        raise DatasetFormatError(f"{source}: IDX file has {dims} dimensions, expected {expected}")
    header_size = 4 + 4 * dims
    if len(data) < header_size:
        raise DatasetFormatError(f"{source}: IDX header truncated ({len(data)} bytes)")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    return dtype, shape, header_size


def parse_idx(data: bytes, source: str = "<bytes>", ndim: int | None = None,
              max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Parse the bytes of an IDX file (gzip or raw) into an array.

    Parameters
    ----------
    data : bytes
        Contents of the file; gzip is detected from its first two bytes.
    source : str
        Name used in error messages (usually the path).
    ndim : int, optional
        Required number of dimensions (3 for images, 1 for labels).
    max_bytes : int
        Largest file (uncompressed) accepted; checked from the header before the body is
        decompressed, so a forged header or a gzip bomb costs at most this much memory.

    Returns
    -------
    ndarray, shape given by the header, dtype from the type byte (native byte order)

    Raises
    ------
    DatasetFormatError
        Bad magic number, unexpected number of dimensions, a header whose sizes exceed
        ``max_bytes``, or a body longer or shorter than the header's sizes say.
    """
    dtype, header_shape, header_size = read_header(decompress_if_gzip(data, source, 64), source, ndim)
    expected_size = header_size + math.prod(header_shape) * dtype.itemsize  # exact Python ints
    if expected_size > max_bytes:
        raise DatasetFormatError(f"{source}: IDX header says shape {header_shape} "
                                 f"({expected_size:,} bytes), more than the {max_bytes:,} bytes "
                                 f"expected")
    data = decompress_if_gzip(data, source, expected_size)
    if len(data) != expected_size:
        problem = "truncated" if len(data) < expected_size else "has trailing bytes"
        raise DatasetFormatError(
            f"{source}: IDX file {problem}: header says shape {header_shape} ({expected_size} bytes), "
            f"file has {len(data) if len(data) <= expected_size else 'more'} bytes"
        )
    values = np.frombuffer(data, dtype=dtype, offset=header_size).reshape(header_shape)
    return values.astype(dtype.newbyteorder("="), copy=False)


def read_idx(path, ndim: int | None = None) -> np.ndarray:
    """Read an IDX file (``.gz`` or raw ``-ubyte``) from disk; see :func:`parse_idx`."""
    path = Path(path)
    return parse_idx(path.read_bytes(), str(path), ndim=ndim)
