"""File helpers: atomic writes, so an interrupted save never leaves a file that looks complete."""

from __future__ import annotations

import errno
import os
import re
import uuid

TEMPORARY = re.compile(r"^\.tmp-[0-9a-f]{32}-")  # the names atomic_write gives its temp files


def atomic_write(path, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it onto ``path``.

    The rename is atomic on POSIX and Windows (``os.replace``): readers see either the old file
    or the complete new one. On any error the temporary file is removed and the error re-raised.
    The temporary file is created like ``open(path, "wb")`` would (mode 0o666 minus the umask).
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".tmp-{uuid.uuid4().hex}-{os.path.basename(path)}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        if os.path.exists(temporary):
            os.remove(temporary)
        if isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS,
                                                          errno.EACCES, errno.EFBIG):
            raise OSError(error.errno, f"cannot write {path}: {os.strerror(error.errno)}") from None
        raise


def remove_stale_temporaries(directory) -> list[str]:
    """Delete the temp files that writes killed mid-way left in ``directory``; return their names.

    Only names of the form ``.tmp-<32 hex digits>-…`` (see :func:`atomic_write`) are touched.
    Call it only where no other process is writing (e.g. when a run starts or resumes).
    """
    if not os.path.isdir(directory):
        return []
    stale = [name for name in os.listdir(directory) if TEMPORARY.match(name)]
    for name in stale:
        try:
            os.remove(os.path.join(directory, name))
        except FileNotFoundError:
            pass
    return stale
