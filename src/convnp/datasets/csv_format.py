"""Images stored as CSV rows (as in the MNIST-as-CSV files): one label column, then pixel columns."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .errors import DatasetFormatError

MAX_LABEL = 2**31 - 1  # class labels beyond this are a mistake (and would wrap in int64 casts)


def load_csv(path, image_shape, label_column: int = 0):
    """Load a CSV file whose rows are ``label, pixel, pixel, …`` (pixels 0-255).

    An optional header line is skipped: a first line in which fewer than half the cells are
    numbers (``label,pixel1,…``). A first line of numbers with a typo in one cell is data, and
    its bad cell is reported rather than the row silently dropped. Blank lines are ignored.
    The label may sit in any column; the remaining columns, in order, are the pixels of
    one image in row-major order of ``image_shape``.

    Parameters
    ----------
    path : str or Path
    image_shape : tuple of int
        Shape of one image, e.g. ``(1, 28, 28)``; the file needs ``1 + prod(image_shape)`` columns.
    label_column : int
        Index of the label column (negative counts from the end).

    Returns
    -------
    x : ndarray, shape (N, *image_shape), float32 in [0, 1] (pixels divided by 255)
    y : ndarray, shape (N,), int64

    Raises
    ------
    DatasetFormatError
        Wrong number of columns (naming the line), non-numeric cells, pixels outside 0-255,
        labels that are not non-negative integers, or no data rows.
    """
    path = Path(path)
    if (not isinstance(image_shape, (tuple, list)) or not image_shape
            or not all(isinstance(s, int) and not isinstance(s, bool) and s > 0 for s in image_shape)):
        raise ValueError(f"load_csv: image_shape must be a tuple of positive ints such as "
                         f"(1, 28, 28), got {image_shape!r}")
    image_shape = tuple(int(size) for size in image_shape)
    columns = 1 + math.prod(image_shape)
    if (not isinstance(label_column, int) or isinstance(label_column, bool)
            or not -columns <= label_column < columns):
        raise ValueError(f"load_csv: label_column must be an int index of one of the {columns} "
                         f"columns, got {label_column!r}")
    numbered = _data_lines(path)
    if not numbered:
        raise DatasetFormatError(f"{path}: no data rows")
    _check_column_counts(numbered, columns, path)
    table = _parse_numbers(numbered, path)  # (N, columns)
    labels = table[:, label_column]  # (N,)
    pixels = np.delete(table, label_column % columns, axis=1)  # (N, prod(image_shape))
    bad = np.flatnonzero((labels < 0) | (labels != np.round(labels)) | (labels > MAX_LABEL))
    if bad.size:
        raise DatasetFormatError(
            f"{path}: labels in column {label_column} must be non-negative integers (at most "
            f"{MAX_LABEL:,}); line {numbered[bad[0]][0]} has {labels[bad[0]]:g}")
    if np.any(pixels < 0) or np.any(pixels > 255):
        raise DatasetFormatError(f"{path}: pixel values must lie in 0-255")
    x = np.divide(pixels, 255, dtype=np.float32).reshape(-1, *image_shape)  # (N, *image_shape)
    return x, labels.astype(np.int64)


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank lines with their 1-based line numbers, header (if any) removed."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetFormatError(f"{path}: not a text CSV file ({error})") from None
    numbered = [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]
    if numbered:
        cells = numbered[0][1].split(",")
        if 2 * sum(_is_number(cell) for cell in cells) < len(cells):
            numbered = numbered[1:]  # header: mostly names, not numbers
    return numbered


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _check_column_counts(numbered: list[tuple[int, str]], columns: int, path: Path) -> None:
    """Raise naming the first line whose number of cells is not ``columns``."""
    for number, line in numbered:
        if line.count(",") != columns - 1:
            raise DatasetFormatError(
                f"{path}: line {number} has {line.count(',') + 1} columns, expected {columns} "
                f"(1 label + {columns - 1} pixels)"
            )


def _parse_numbers(numbered: list[tuple[int, str]], path: Path) -> np.ndarray:
    """Parse the lines into a float64 table; on failure, name the first bad line and cell."""
    try:
        table = np.loadtxt([line for _, line in numbered], delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        for number, line in numbered:
            for column, cell in enumerate(line.split(","), 1):
                if not _is_number(cell) or not math.isfinite(float(cell)):
                    raise DatasetFormatError(
                        f"{path}: line {number}, column {column}: {cell.strip()!r} is not a number"
                    ) from None
        raise DatasetFormatError(f"{path}: could not parse the numbers") from None
    if not np.all(np.isfinite(table)):
        raise DatasetFormatError(f"{path}: contains non-finite values (nan or inf)")
    return table
