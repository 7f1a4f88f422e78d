"""Exceptions and warnings of :mod:`convnp.datasets`: every user-facing failure is a DatasetError."""


class DatasetError(Exception):
    """Base class of the errors raised while locating, downloading or reading a dataset."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The dataset's files are not where convnp looks; the message says where to put them."""


class DownloadError(DatasetNotFoundError):
    """Every URL of a missing file failed (network error, truncated body or wrong checksum)."""


class DatasetFormatError(DatasetError, ValueError):
    """A file exists but is not a valid file of its format (the message names the file)."""


class ChecksumWarning(UserWarning):
    """A file differs from the canonical one but passed the structural checks and is used."""
