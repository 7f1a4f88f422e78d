"""File helpers: atomic writes, so an interrupted save never leaves a file that looks complete."""

from __future__ import annotations

import os
import tempfile


def atomic_write(path, write) -> None:
    """Call ``write(file)`` on a temporary file beside ``path``, then rename it onto ``path``.

    The rename is atomic on POSIX and Windows (``os.replace``): readers see either the old file
    or the complete new one. On any error the temporary file is removed and the error re-raised.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.basename(path))
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
