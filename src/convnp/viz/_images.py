"""Array helpers shared by the image plots: tiling many small maps into one mosaic, colour scales."""

from __future__ import annotations

import math

import numpy as np


def grid_shape(count: int, max_columns: int = 8) -> tuple[int, int]:
    """(rows, columns) of a near-square grid holding ``count`` panels, at most ``max_columns`` wide."""
    columns = min(max_columns, max(1, math.ceil(math.sqrt(count))))
    return math.ceil(count / columns), columns


def mosaic(maps: np.ndarray, rows: int, columns: int, gap: int = 1) -> np.ndarray:
    """Tile maps into one image with NaN gaps (drawn as the background) between them.

    Parameters
    ----------
    maps : ndarray, shape (K, H, W) or (K, H, W, 3)
        K <= rows * columns; missing panels stay NaN.
    rows, columns : int
    gap : int
        Pixels of NaN between neighbouring panels.

    Returns
    -------
    ndarray, shape (rows*(H+gap)-gap, columns*(W+gap)-gap[, 3]), float64
    """
    count, height, width = maps.shape[:3]
    tail = maps.shape[3:]  # () or (3,)
    out = np.full((rows * (height + gap) - gap, columns * (width + gap) - gap, *tail), np.nan)
    for index in range(count):
        top, left = (index // columns) * (height + gap), (index % columns) * (width + gap)
        out[top:top + height, left:left + width] = maps[index]
    return out


def symmetric_limit(values) -> float:
    """Largest absolute finite value (1.0 for an all-zero array), for a colour scale centred at 0."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    limit = float(np.abs(finite).max()) if finite.size else 0.0
    return limit if limit > 0 else 1.0


def diverging_cmap():
    """Red-white-blue colour map (negative blue, positive red) with NaN drawn as white."""
    from matplotlib import colormaps

    return colormaps["RdBu_r"].with_extremes(bad="white")


def sequential_cmap(name: str = "viridis"):
    """A sequential colour map (for non-negative values) with NaN drawn as white."""
    from matplotlib import colormaps

    return colormaps[name].with_extremes(bad="white")


def image_for_display(image: np.ndarray) -> tuple[np.ndarray, str | None]:
    """An image (C, H, W) as what ``imshow`` wants: (H, W) with cmap 'gray', or (H, W, 3) RGB."""
    if image.shape[0] == 3:
        rgb = image.transpose(1, 2, 0)  # (H, W, 3)
        low, high = rgb.min(), rgb.max()
        return (rgb - low) / (high - low) if high > low else np.zeros_like(rgb), None
    return image[0], "gray"
