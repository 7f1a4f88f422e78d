"""The messages and shared memory between a split step's processes (:mod:`.processes`).

A message is one pipe write: a one-byte tag, then a JSON header or an array's raw bytes — no
pickle, on either side. Tags: ``R`` ready, ``C`` command, ``A`` array, ``Y`` output header, ``G``
gradients done, ``S`` / ``T`` a part's sums / their total, ``M`` Dropout mask rows, ``E`` error.
Bulk arrays (weights, gradients, images) go through an :class:`Arena`, shared memory both map.
"""

from __future__ import annotations

import json
import mmap
import os
from multiprocessing.connection import Connection

import numpy as np

ALIGN = 64  # bytes: each array in shared memory starts on a cache line
ANSWER_TIMEOUT = 600.0  # seconds one side waits for a message before giving up on the other


class WorkerFailed(RuntimeError):
    """A worker process stopped, or answered out of turn, during a split step."""


def send(connection: Connection, tag: bytes, array=None, header=None) -> None:
    """One message: ``tag``, then a JSON header or an array's raw bytes."""
    try:
        if header is not None:
            connection.send_bytes(tag + json.dumps(header).encode())
        else:
            connection.send_bytes(tag + np.ascontiguousarray(array).tobytes())
    except OSError as error:
        raise WorkerFailed(f"the pipe to a worker broke ({error})") from None


def receive(connection: Connection, tag: bytes, patient: bool = False) -> bytes:
    """The payload of the next message, which must carry ``tag`` (an ``E`` message is the other
    side's error, reported here), waited for ``ANSWER_TIMEOUT`` seconds (``patient``: as long as
    it takes)."""
    try:
        if not patient and not connection.poll(ANSWER_TIMEOUT):
            raise WorkerFailed(f"no answer from the other process in {ANSWER_TIMEOUT:g} s")
        message = connection.recv_bytes()
    except (OSError, EOFError) as error:
        raise WorkerFailed(f"a worker stopped ({type(error).__name__})") from None
    if message[:1] == b"E":
        raise WorkerFailed(message[1:].decode(errors="replace"))
    if message[:1] != tag:
        raise WorkerFailed(f"expected a {tag!r} message, got {message[:1]!r}")
    return message[1:]


def receive_array(connection, tag, shape, dtype) -> np.ndarray:
    payload = receive(connection, tag)
    array = np.frombuffer(payload, dtype=dtype)
    if array.size != int(np.prod(shape, dtype=np.int64)):
        raise WorkerFailed(f"expected {tuple(shape)} numbers in a {tag!r} message, got {array.size}")
    return array.reshape(shape).copy()


def receive_header(connection, tag, patient: bool = False) -> dict:
    return json.loads(receive(connection, tag, patient))


class Arena:
    """Shared memory that a worker maps too (by ``/proc/<caller>/fd/<fd>``), cut into arrays."""

    def __init__(self, size: int, fd: int | None = None):
        self.size = size
        if fd is None:
            self.fd = os.memfd_create("convnp-arena")
            os.ftruncate(self.fd, size)
        else:
            self.fd = fd
        self.map = mmap.mmap(self.fd, size)

    @staticmethod
    def layout(specs):
        """Offsets of arrays ``[(dtype, shape), ...]`` one after another, and the bytes needed."""
        offsets, end = [], 0
        for dtype, shape in specs:
            end = -(-end // ALIGN) * ALIGN
            offsets.append(end)
            end += np.dtype(dtype).itemsize * int(np.prod(shape, dtype=np.int64))
        return offsets, max(end, 1)

    def view(self, offset, dtype, shape) -> np.ndarray:
        count = int(np.prod(shape, dtype=np.int64))
        return np.frombuffer(self.map, dtype=np.dtype(dtype), count=count, offset=offset).reshape(shape)

    def close(self) -> None:
        os.close(self.fd)
        try:
            self.map.close()
        except BufferError:  # arrays still view it (a worker's old weights): unmapped with the last of them
            pass
