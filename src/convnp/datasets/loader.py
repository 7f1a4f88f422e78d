"""Find, verify and load the real datasets: :func:`load`, :func:`status`, :func:`resolve_root`.

Files live in ``<root>/<name>/`` under their canonical names. Each file is read once; its SHA-256
is compared with the canonical one, and a file that differs (or an unpacked copy that cannot be
hashed) is used only after the structural checks pass, with one :class:`ChecksumWarning`.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from .catalog import CIFAR_ARCHIVE, PACKAGE_DATA, SOURCES, Source, info
from .cifar import ARCHIVE_DIRECTORY, batches_from_archive, batches_from_directory, parse_batches
from .download import download_file
from .errors import ChecksumWarning, DatasetFormatError, DatasetNotFoundError
from .mnist import idx_file_names, parse_split

ENV_VAR = "CONVNP_DATA"
MAX_FILE_BYTES = 512 * 2**20  # the largest real file, cifar-10-python.tar.gz, is 163 MiB


@dataclass
class DatasetStatus:
    """Where a dataset is looked for and what state its files are in.

    ``verified`` is ``"ok"`` (canonical SHA-256), ``"non-canonical (validated)"``,
    ``"invalid: <reason>"``, ``"missing: <files>"`` or ``"embedded"`` (shipped in the package).
    """

    name: str
    directory: str
    found: bool
    verified: str


def resolve_root(root=None) -> Path:
    """The data root: ``root`` if given, else ``$CONVNP_DATA``, else the user cache.

    The user cache is ``$XDG_CACHE_HOME/convnp`` when ``XDG_CACHE_HOME`` is set, else
    ``~/.cache/convnp``. The result is absolute; it need not exist.
    """
    if root is not None:
        chosen = Path(root)
    elif os.environ.get(ENV_VAR):
        chosen = Path(os.environ[ENV_VAR])
    elif os.environ.get("XDG_CACHE_HOME"):
        chosen = Path(os.environ["XDG_CACHE_HOME"]) / "convnp"
    else:
        chosen = Path.home() / ".cache" / "convnp"
    return chosen.expanduser().absolute()


def dataset_directory(name: str, root=None) -> Path:
    """``<root>/<name>``, or the package's own copy for the embedded ``mnist-sample``."""
    if SOURCES[name].embedded:
        return PACKAGE_DATA / name
    return resolve_root(root) / name


def load(name: str, root=None, download: bool = False):
    """Load a dataset as float32 NCHW images in [0, 1] and int64 labels.

    Parameters
    ----------
    name : str
        ``"mnist"``, ``"fashion-mnist"``, ``"cifar10"`` or ``"mnist-sample"`` (see :func:`names`).
        ``"mnist-sample"`` is embedded in the package (the 10,000 MNIST test images, first 8,000
        as train, last 2,000 as test): it ignores ``root`` and ``download``.
    root : str or Path, optional
        Data root; default from :func:`resolve_root`. Files are read from ``root/<name>/``.
        IDX files may also be uncompressed (``…-ubyte``); CIFAR-10 may be the extracted
        ``cifar-10-batches-py/`` folder.
    download : bool
        Fetch missing files from the canonical URLs (verified, written atomically).

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
        x: float32, shape (N, C, H, W), in [0, 1]; y: int64, shape (N,).

    Raises
    ------
    ValueError
        Unknown name.
    DatasetNotFoundError
        Files missing (the message says which files to put where); ``DownloadError`` if a
        download failed.
    DatasetFormatError
        A file that differs from the canonical one fails the structural checks.

    Warns
    -----
    ChecksumWarning
        Once, if some files differ from the canonical ones but pass the structural checks.
    """
    info(name)
    source, directory = SOURCES[name], dataset_directory(name, root)
    files, missing = locate_files(name, directory)
    downloaded = set()
    if missing and download and not source.embedded:
        for canonical in missing:
            files[canonical] = download_file(canonical, directory, source.urls, source.sha256[canonical])
            downloaded.add(canonical)
        missing = []
    if missing:
        raise DatasetNotFoundError(missing_message(name, directory, missing))
    contents, differing = read_and_verify(files, source, trusted=downloaded)
    arrays = parse_files(name, files, contents)
    if differing:
        warnings.warn(checksum_message(name, directory, differing), ChecksumWarning, stacklevel=2)
    return arrays


def status(name: str, root=None) -> DatasetStatus:
    """Report where ``name`` is looked for and whether its files are present and valid (no warnings)."""
    info(name)
    source, directory = SOURCES[name], dataset_directory(name, root)
    files, missing = locate_files(name, directory)
    if missing:
        return DatasetStatus(name, str(directory), False, "missing: " + ", ".join(missing))
    if source.embedded:
        return DatasetStatus(name, str(directory), True, "embedded")
    try:
        contents, differing = read_and_verify(files, source)
        if not differing:
            return DatasetStatus(name, str(directory), True, "ok")
        parse_files(name, files, contents)
    except (DatasetFormatError, OSError) as error:
        return DatasetStatus(name, str(directory), True, f"invalid: {error}")
    return DatasetStatus(name, str(directory), True, "non-canonical (validated)")


def locate_files(name: str, directory: Path) -> tuple[dict[str, Path], list[str]]:
    """Find each canonical file of ``name`` in ``directory``, accepting the unpacked alternatives.

    Returns
    -------
    found : dict mapping canonical file name -> path of the file (or folder) to read
    missing : list of canonical file names with no candidate
    """
    found, missing = {}, []
    for canonical in info(name).files:
        candidates = [directory / canonical]
        if canonical == CIFAR_ARCHIVE:
            candidates.append(directory / ARCHIVE_DIRECTORY)  # extracted folder
        else:
            candidates.append(directory / canonical.removesuffix(".gz"))  # uncompressed IDX
        path = next((candidate for candidate in candidates if _usable(candidate)), None)
        if path is None:
            missing.append(canonical)
        else:
            found[canonical] = path
    return found, missing


def _usable(path: Path) -> bool:
    return path.is_dir() if path.name == ARCHIVE_DIRECTORY else path.is_file()


def missing_message(name: str, directory: Path, missing: list[str]) -> str:
    """One sentence saying which files to put where, or how to point convnp at them."""
    if SOURCES[name].embedded:
        return (f"{name}: the embedded files {', '.join(missing)} are missing from the installed "
                f"package at {directory}; reinstall convnp")
    return (f"{name}: missing {', '.join(missing)} in {directory}; put the file(s) there, or set "
            f"{ENV_VAR} to a folder that holds {name}/ with them, or call "
            f"convnp.datasets.load({name!r}, download=True) to fetch them")


def checksum_message(name: str, directory: Path, differing: list[Path]) -> str:
    """One line naming the files that are not canonical but passed the structural checks."""
    files = [path for path in differing if not path.is_dir()]
    folders = [path for path in differing if path.is_dir()]
    parts = []
    if files:
        verb = "differs from the canonical file" if len(files) == 1 else "differ from the canonical files"
        parts.append(f"{', '.join(path.name for path in files)} {verb} (SHA-256)")
    parts += [f"{folder.name}/ is an extracted folder (no SHA-256 to check)" for folder in folders]
    return f"{name}: in {directory}, {'; '.join(parts)}; validated structurally and used"


def read_and_verify(files: dict[str, Path], source: Source, trusted=frozenset()):
    """Read each file once and compare its SHA-256 with the canonical (or uncompressed) digest.

    Returns
    -------
    contents : dict mapping canonical name -> bytes (None for an extracted CIFAR folder)
    differing : list of paths that do not match (folders always count as differing)
    """
    contents, differing = {}, []
    for canonical, path in files.items():
        if path.is_dir():
            contents[canonical] = None
            differing.append(path)
            continue
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise DatasetFormatError(f"{path}: {size:,} bytes, larger than any file of its dataset "
                                     f"({MAX_FILE_BYTES:,} at most); is it the right file?")
        contents[canonical] = path.read_bytes()
        if canonical in trusted:  # verified while downloading
            continue
        digest = hashlib.sha256(contents[canonical]).hexdigest()
        if digest not in (source.sha256.get(canonical), source.raw_sha256.get(canonical)):
            differing.append(path)
    return contents, differing


def parse_files(name: str, files: dict[str, Path], contents: dict[str, bytes | None]):
    """Parse the files of ``name`` into ((x_train, y_train), (x_test, y_test)), checking structure."""
    dataset_info, source = info(name), SOURCES[name]
    if source.format == "cifar":
        path, data = files[CIFAR_ARCHIVE], contents[CIFAR_ARCHIVE]
        batches = batches_from_directory(path) if data is None else batches_from_archive(data, str(path))
        return parse_batches(batches, str(path))
    splits = {}
    for prefix, count in source.counts.items():
        images_name, labels_name = idx_file_names(prefix)
        splits[prefix] = parse_split(
            contents[images_name], contents[labels_name], (str(files[images_name]), str(files[labels_name])),
            count, dataset_info.input_shape[1:], len(dataset_info.classes),
        )
    if source.split_at is not None:
        (x, y), split = splits["t10k"], source.split_at
        return (x[:split], y[:split]), (x[split:], y[split:])
    return splits["train"], splits["t10k"]
