"""Cases and clue regions shared by the convolution, im2col and pooling exercises."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .stages import Case

# (N, C, H, W, FN, (FH, FW), stride, pad): stride 1-3, padding 0-2, square and rectangular
# kernels, sizes that stride does not divide evenly.
CONV_GEOMETRIES = [
    (2, 3, 7, 7, 4, (3, 3), 1, 0),
    (2, 2, 8, 7, 3, (3, 3), 2, 0),
    (1, 2, 8, 8, 2, (2, 2), 3, 0),
    (2, 2, 6, 6, 3, (3, 3), 1, 1),
    (1, 2, 7, 6, 2, (5, 3), 1, 2),
    (2, 3, 7, 8, 2, (3, 2), 2, 1),
    (1, 1, 9, 7, 2, (3, 3), 3, 2),
    (2, 2, 6, 7, 3, (4, 3), 2, 2),
    (2, 3, 4, 5, 2, (1, 1), 1, 0),
    (1, 2, 5, 8, 2, (2, 4), 1, 0),
]

# (N, C, H, W, (PH, PW), stride, pad, ties)
POOL_GEOMETRIES = [
    (2, 2, 4, 4, (2, 2), 2, 0, False),
    (2, 2, 5, 5, (3, 3), 1, 0, False),
    (1, 3, 5, 6, (2, 2), 1, 0, False),
    (2, 2, 7, 6, (3, 2), 2, 0, False),
    (1, 2, 7, 7, (3, 3), 3, 1, False),
    (2, 1, 5, 6, (2, 3), 1, 1, False),
    (1, 2, 8, 8, (4, 4), 2, 2, False),
    (2, 2, 6, 6, (2, 2), 2, 0, True),
    (2, 2, 5, 5, (3, 3), 1, 0, True),
    (1, 2, 7, 7, (3, 3), 2, 1, True),
]


def describe(x_shape, stride, pad, kernel=None, what="W") -> str:
    kernel_text = f", {what} {kernel}" if kernel is not None else ""
    return f"x {tuple(x_shape)}{kernel_text}, stride {stride}, pad {pad}"


def distinct_values(rng, shape, scale=0.1) -> np.ndarray:
    """Positive values at least ``scale`` apart (no ties, no kinks near a finite difference)."""
    size = int(np.prod(shape))
    return (rng.permutation(size).reshape(shape) + 1.0) * scale


def tied_values(rng, shape) -> np.ndarray:
    """Small positive integers: windows full of tied maxima."""
    return rng.integers(1, 4, size=shape).astype(np.float64)


def conv_case(rng, geometry, index=None, total=None) -> Case:
    n, c, h, w, fn, (fh, fw), stride, pad = geometry
    x = rng.standard_normal((n, c, h, w))
    inputs = {"x": x, "W": rng.standard_normal((fn, c, fh, fw)), "b": rng.standard_normal(fn),
              "stride": stride, "pad": pad}
    out_h, out_w = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    inputs["dout"] = rng.standard_normal((n, fn, out_h, out_w))
    prefix = f"case {index}/{total}: " if index else ""
    label = prefix + describe(x.shape, stride, pad, (fn, c, fh, fw))
    return Case(label, inputs, {"stride": stride, "pad": pad})


def pool_case(rng, geometry, index=None, total=None) -> Case:
    n, c, h, w, (ph, pw), stride, pad, ties = geometry
    x = tied_values(rng, (n, c, h, w)) if ties else distinct_values(rng, (n, c, h, w))
    out_h, out_w = (h + 2 * pad - ph) // stride + 1, (w + 2 * pad - pw) // stride + 1
    inputs = {"x": x, "pool": (ph, pw), "stride": stride, "pad": pad,
              "dout": rng.standard_normal((n, c, out_h, out_w))}
    prefix = f"case {index}/{total}: " if index else ""
    label = prefix + describe(x.shape, stride, pad, (ph, pw), "pool") + (", tied maxima" if ties else "")
    return Case(label, inputs, {"stride": stride, "pad": pad, "ties": ties})


def border_region(shape, pad) -> np.ndarray | None:
    """The outer ``pad`` rows and columns of every (H, W) plane, or None without padding."""
    if pad == 0:
        return None
    region = np.ones(shape, dtype=bool)
    region[..., pad:-pad, pad:-pad] = False
    return region


def overlap_region(x_shape, kernel, stride, pad) -> np.ndarray | None:
    """Pixels covered by two or more windows, or None when windows do not overlap."""
    kh, kw = kernel
    n, c, h, w = x_shape
    out_h, out_w = (h + 2 * pad - kh) // stride + 1, (w + 2 * pad - kw) // stride + 1
    ones = np.ones((n * out_h * out_w, c * kh * kw))
    counts = F.col2im(ones, x_shape, kh, kw, stride, pad)
    region = counts >= 2
    return region if region.any() else None


def tie_region(x, kernel, stride, pad) -> np.ndarray | None:
    """Pixels of the windows whose maximum is tied, or None when there are no ties."""
    kh, kw = kernel
    windows = F.im2col(np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], constant_values=-np.inf),
                       kh, kw, stride, 0)
    windows = windows.reshape(-1, kh * kw)  # one window a row, rows (n, oh, ow, c)
    tied = (windows == windows.max(axis=1, keepdims=True)).sum(axis=1) > 1
    marks = np.repeat(tied[:, None], kh * kw, axis=1).reshape(-1, x.shape[1] * kh * kw)
    region = F.col2im(marks.astype(np.float64), x.shape, kh, kw, stride, pad) > 0
    return region if region.any() else None
