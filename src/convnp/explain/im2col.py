"""Animation 4, im2col: every window of the input becomes one row of a matrix; one matrix product
with the reshaped kernels then gives the whole convolution.

Rows are ordered (n, oh, ow) and columns (c, kh, kw), the layout of
:func:`convnp.functional.im2col`. The final frame shows ``columns @ weight.reshape(O, -1).T``,
reshaped to (O, OH, OW), which equals :func:`convnp.functional.conv2d_forward`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .. import functional as F
from .geometry import check_int, output_side, pad, window_origin
from .inputs import frame_positions

MAX_FRAMES = 36


@dataclass
class RowFrame:
    """One window copied into its row of the column matrix."""

    step: int  # the row index, (oh, ow) in row-major order
    position: tuple  # (i, j)
    window: np.ndarray  # (C, KH, KW)
    columns: np.ndarray  # (OH*OW, C*KH*KW) rows 0..step filled, NaN after


@dataclass
class ProductFrame:
    """The matrix product that turns the column matrix into the convolution output."""

    columns: np.ndarray  # (OH*OW, C*KH*KW) = im2col(x)
    weight_matrix: np.ndarray  # (C*KH*KW, O) = weight.reshape(O, -1).T
    product: np.ndarray  # (OH*OW, O)
    output: np.ndarray  # (O, OH, OW) product reshaped


@dataclass
class Im2col:
    """The whole animation."""

    x: np.ndarray  # (1, C, H, W)
    weight: np.ndarray  # (O, C, KH, KW)
    stride: int
    padding: int
    padded: np.ndarray  # (C, Hp, Wp)
    columns: np.ndarray  # im2col(x)
    output: np.ndarray  # (O, OH, OW) from conv2d_forward
    frames: list


def im2col_frame_count(size, kernel, stride, padding, max_frames=MAX_FRAMES) -> int:
    """``min(OH*OW, max_frames)`` row frames + 1 matrix-product frame."""
    return min(output_side(size, kernel, stride, padding) ** 2, max_frames) + 1


def im2col_frames(x, weight, stride=1, padding=0, max_frames=MAX_FRAMES) -> Im2col:
    """Compute the frame states of unfolding ``x`` (1, C, H, W) and multiplying by ``weight``
    (O, C, KH, KW)."""
    stride, padding = check_int(stride, "stride", 1), check_int(padding, "padding", 0)
    out_channels, channels, kh, kw = weight.shape
    out_h = output_side(x.shape[2], kh, stride, padding)
    out_w = output_side(x.shape[3], kw, stride, padding)
    columns = F.im2col(x, kh, kw, stride, padding)  # (OH*OW, C*KH*KW)
    y, _ = F.conv2d_forward(x, weight, None, stride, padding)
    story = Im2col(x, weight, stride, padding, pad(x[0], padding), columns, np.array(y[0]), [])
    for step in frame_positions(out_h * out_w, max_frames):
        filled = np.full(columns.shape, np.nan)
        filled[:step + 1] = columns[:step + 1]
        i, j, _, _ = window_origin(step, out_w, stride)
        story.frames.append(RowFrame(step, (i, j), columns[step].reshape(channels, kh, kw), filled))
    weight_matrix = weight.reshape(out_channels, -1).T  # (C*KH*KW, O), rows (c, kh, kw)
    product = columns @ weight_matrix  # (OH*OW, O)
    output = product.T.reshape(out_channels, out_h, out_w)  # (O, OH, OW)
    story.frames.append(ProductFrame(columns, weight_matrix, product, output))
    return story
