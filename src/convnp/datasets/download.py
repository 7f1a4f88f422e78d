"""Fetch a dataset file over HTTP(S) with urllib: progress bar, checksum, atomic write, mirrors."""

from __future__ import annotations

import hashlib
import http.client
from pathlib import Path
from urllib.request import Request, urlopen

from tqdm.auto import tqdm

from .._io import atomic_write
from .errors import DatasetError, DownloadError

DEFAULT_TIMEOUT = 30.0  # seconds per connect / read, not for the whole transfer
CHUNK_SIZE = 1 << 20
USER_AGENT = "convnp (python urllib)"


class _BadDownload(DatasetError):
    """Internal: a response was incomplete or had the wrong checksum (try the next URL)."""


def download_file(filename: str, directory, base_urls, sha256: str, *, timeout: float = DEFAULT_TIMEOUT,
                  progress: bool = True) -> Path:
    """Download ``filename`` into ``directory`` from the first of ``base_urls`` that gives it intact.

    Each attempt streams into a temporary file beside the target, hashing as it goes; only a
    complete body with the expected SHA-256 is renamed to ``directory/filename``. A failed or
    interrupted attempt leaves nothing behind.

    Parameters
    ----------
    filename : str
        Canonical file name; the URL is ``base_url + filename``.
    directory : str or Path
        Destination folder (created if needed).
    base_urls : sequence of str
        Mirrors, tried in order.
    sha256 : str
        Expected hex digest of the file.
    timeout : float
        Socket timeout in seconds for connecting and for each read.
    progress : bool
        Show a tqdm bar (it hides itself when stderr is not a terminal).

    Returns
    -------
    Path of the verified file.

    Raises
    ------
    DownloadError
        If every URL failed; the message lists each URL with its reason.
    """
    target = Path(directory) / filename
    failures = []
    for base_url in base_urls:
        url = base_url if base_url.endswith(filename) else base_url.rstrip("/") + "/" + filename
        try:
            atomic_write(target, lambda file, url=url: _fetch(url, file, sha256, timeout, progress))
            return target
        except (OSError, http.client.HTTPException, ValueError, _BadDownload) as error:
            failures.append(f"{url} ({error})")
    tried = "; ".join(failures) if failures else "no URL known"
    raise DownloadError(f"could not download {filename} to {target}: {tried}; "
                        f"download it yourself and put it at {target}")


def _fetch(url: str, file, sha256: str, timeout: float, progress: bool) -> None:
    """Stream ``url`` into ``file``; raise _BadDownload if the body is short or its SHA-256 differs."""
    digest = hashlib.sha256()
    received = 0
    with urlopen(Request(url, headers={"User-Agent": USER_AGENT}), timeout=timeout) as response:
        total = response.length  # Content-Length, or None
        with tqdm(total=total, desc=url.rsplit("/", 1)[-1], unit="B", unit_scale=True, unit_divisor=1024,
                  disable=None if progress else True, leave=False) as bar:
            while chunk := response.read(CHUNK_SIZE):
                digest.update(chunk)
                file.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received < total:
        raise _BadDownload(f"truncated: got {received} of {total} bytes")
    if digest.hexdigest() != sha256:
        raise _BadDownload(f"SHA-256 {digest.hexdigest()} differs from the expected {sha256}")
